"""In process, server only: the channel's path without HTTP, and each stage's µs per message.

``bench/channel.py`` section [4b]. A node is opened in this process (SQLite in a
fresh directory, the real services, no HTTP), the channel track is built, and
messages go through it in rounds of ``round_size``, exactly as the HTTP run's
actors send them: usa's submissions as one group, qatar leases them and forwards
them as one group, iran leases the forwards (each rendered as its SSE event
would be) and settles them with one receipt. Commands are signed before the
clock starts (signing is the client's work); everything timed is the server's.

Stages (µs per message):

- ``decode``: request bytes -> :class:`SignedCommand` (strict JSON, canonical
  form, field checks), for the submission and the forward;
- ``submit``, ``forward``, ``receipt``: :meth:`DeliveryService.submit_many`
  (verify, decide, sign the entries, append, one fsync), for one group;
- ``lease``: the mediator's and the recipient's leases;
- ``render``: each delivery rendered to its SSE frame (entry lookup, JSON).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backchannel.log.canonical import JSONValue, canonicalize, loads_strict
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient, receipt_digest


@dataclass
class Stages:
    """Seconds spent per stage, and messages moved."""

    messages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: float = 0.0  # process CPU seconds (every thread) while the stages ran

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` against ``stage``."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @property
    def total(self) -> float:
        """Seconds in all stages."""
        return sum(self.seconds.values())

    def per_message_us(self) -> list[tuple[str, float]]:
        """Each stage's µs per message, in the order first seen."""
        return [(name, s / self.messages * 1e6) for name, s in self.seconds.items()]


def _timed(stages: Stages, stage: str, call: Callable[[], Any]) -> Any:
    began, cpu = time.perf_counter(), time.process_time()
    result = call()
    stages.add(stage, time.perf_counter() - began)
    stages.cpu += time.process_time() - cpu
    return result


def _outcomes_ok(outcomes: list[Any], what: str) -> None:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"{what} refused in process: {outcome}") from outcome  # noqa: TRY004


def in_process(
    directory: Path,
    *,
    mediator: KeyPair,
    sender: KeyPair,
    recipient: KeyPair,
    track: str,
    agenda: Any,
    statement: Callable[[str], dict[str, JSONValue]],
    payload: int,
    messages: int,
    round_size: int,
) -> Stages:
    """Move ``messages`` through an in-process node; the server's stages, timed."""
    from backchannel.api.routes.delivery import _render, _sse
    from backchannel.broker import DeliveryPolicy
    from backchannel.node import open_node
    from backchannel.service.admission import Admission
    from backchannel.service.config import Settings
    from backchannel.service.gc_policy import tune_gc

    tune_gc()  # as backchannel serve does
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    node = open_node(
        Settings(data_dir=directory),
        host="127.0.0.1",
        port=9,
        admission=Admission([mediator.signing.key_id]),
        policy=DeliveryPolicy(credit=round_size, queue_limit=max(10_000, 4 * round_size)),
    )
    clients = {
        k.name: BackchannelClient("http://127.0.0.1:9", k.name, k) for k in (mediator, sender, recipient)
    }
    try:
        q, u, i = (clients[k.name] for k in (mediator, sender, recipient))
        delivery = node.delivery
        ctx = node.app.state.ctx
        execute = ctx.committer.execute  # the HTTP routes' path: group commit

        def run(client: BackchannelClient, command: str, body: Mapping[str, JSONValue]) -> None:
            _outcomes_ok(execute([client.sign(command, body, track=track)]), command)

        service_key = {**_service_key(node), "expires_at": None}
        run(q, "open_track", {"title": "Channel benchmark", "principal_key": enrolment_key(mediator),
                              "service_key": service_key})  # fmt: skip
        for party, principal in (("usa", sender), ("iran", recipient)):
            run(q, "admit_party", {"party": party, "kind": "delegation", "principal": principal.name,
                                   "principal_key": enrolment_key(principal)})  # fmt: skip
        run(q, "propose_agenda", {"agenda": agenda.to_dict()})
        for client in (u, i):
            run(client, "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(agenda).hex()})
        stages = Stages()
        text = ("x" * payload)[:payload]
        done = 0
        while done < messages:
            count = min(round_size, messages - done)
            body = statement(text)
            raw = [_wire(u.sign("submit_message", body, track=track, idempotency_key=f"s{done + k}"))
                   for k in range(count)]  # fmt: skip
            submits = _timed(stages, "decode", lambda raw=raw: _decode(raw))
            _outcomes_ok(_timed(stages, "submit", lambda s=submits: execute(s)), "submit")
            leased = _timed(stages, "lease", lambda: delivery.lease(track, mediator.name))
            raw = [_wire(q.sign("forward_message", {"message_id": m, "to_parties": ["iran"]},
                                track=track, idempotency_key=f"f{m}"))
                   for m in (d.envelope.message_id for d in leased)]  # fmt: skip
            forwards = _timed(
                stages, "decode", lambda raw=raw: [SignedCommand.from_dict(loads_strict(b)) for b in raw]
            )
            _outcomes_ok(_timed(stages, "forward", lambda f=forwards: execute(f)), "forward")
            got = _timed(stages, "lease", lambda: delivery.lease(track, recipient.name))
            state = ctx.state(track)
            _timed(stages, "render", lambda g=got, s=state: [_sse(_render(ctx, s, d)) for d in g])
            items = {d.envelope.message_id: d.envelope.log_index for d in got}
            receipt_body: dict[str, JSONValue] = {
                "items": [[m, n] for m, n in items.items()],
                "receipt_digest": receipt_digest(items.items()).hex(),
            }
            receipt = i.sign("record_receipt", receipt_body, track=track, idempotency_key=f"r{done}")
            _outcomes_ok(_timed(stages, "receipt", lambda r=receipt: execute([r])), "receipt")
            done += len(got)
            stages.messages = done
        return stages
    finally:
        for client in clients.values():
            client.close()
        node.close()
        shutil.rmtree(directory, ignore_errors=True)


def _wire(signed: SignedCommand) -> bytes:
    """The request body a client sends for ``signed``."""
    return canonicalize(signed.to_dict())


def _decode(bodies: list[bytes]) -> list[SignedCommand]:
    """Request bodies decoded as the routes decode them."""
    return [SignedCommand.from_dict(loads_strict(body)) for body in bodies]


def _service_key(node: Any) -> dict[str, JSONValue]:
    """The node's key as ``open_track`` names it (what ``GET /v1/service`` shows)."""
    from backchannel.log.signing import b64encode

    key = node.keys.signing.verifying_key
    return {"key_id": key.key_id, "ed25519": b64encode(key.public_bytes),
            "x25519": b64encode(node.keys.agreement.public_bytes)}  # fmt: skip
