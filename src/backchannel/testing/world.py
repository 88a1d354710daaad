"""Fixed keys and a small agenda for tests, demos and benchmarks of the live channel.

Seeded keys make failures reproducible and golden bytes stable. They are
public test keys: never use them for anything real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backchannel.clock import Clock
from backchannel.domain import Agenda
from backchannel.domain.agenda import ChoiceIssue, NumberIssue
from backchannel.log.canonical import JSONValue
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key, sign_command

__all__ = ["SMALL_AGENDA", "CommandSigner", "message_body", "new_key_json", "opening", "seeded_keys"]

SMALL_AGENDA = Agenda(
    1,
    (
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        ChoiceIssue("sanctions_relief", ("none", "tier-1", "full")),
    ),
)
"""A two-issue agenda: an enrichment cap in % (step 0.01) and a sanctions-relief tier."""


def seeded_keys(seed: int, name: str) -> KeyPair:
    """Deterministic Ed25519 and X25519 keys for ``name`` (seed 0..155)."""
    if not 0 <= seed <= 155:
        raise ValueError("seed must be 0..155")
    return KeyPair(
        name,
        SigningKey.from_seed(bytes([seed]) * 32),
        AgreementKey.from_private_bytes(bytes([seed + 100]) * 32),
    )


def new_key_json(keys: KeyPair) -> dict[str, JSONValue]:
    """The wire form of ``keys`` as a key to enrol (no expiry)."""
    return enrolment_key(keys)


def opening(
    mediator: KeyPair,
    node: KeyPair,
    delegations: Sequence[KeyPair],
    *,
    agenda: Agenda | None = SMALL_AGENDA,
    title: str = "Doha",
) -> list[tuple[KeyPair, str, dict[str, JSONValue]]]:
    """The commands that open a track: ``(signer, command, body)`` in order.

    ``mediator`` opens it naming ``node`` as the service key and admits each of
    ``delegations`` (principal keys named ``party/...``); with an ``agenda``, the
    mediator proposes it and every delegation principal ratifies it.
    """
    script: list[tuple[KeyPair, str, dict[str, JSONValue]]] = [
        (
            mediator,
            "open_track",
            {"title": title, "principal_key": enrolment_key(mediator), "service_key": enrolment_key(node)},
        ),
    ]
    for principal in delegations:
        admit: dict[str, JSONValue] = {
            "party": principal.name.split("/")[0],
            "kind": "delegation",
            "principal": principal.name,
            "principal_key": enrolment_key(principal),
        }
        script.append((mediator, "admit_party", admit))
    if agenda is not None:
        script.append((mediator, "propose_agenda", {"agenda": agenda.to_dict()}))
        ratify: dict[str, JSONValue] = {
            "version": agenda.version,
            "agenda_digest": agenda_digest(agenda).hex(),
        }
        script.extend((principal, "ratify_agenda", ratify) for principal in delegations)
    return script


def message_body(
    kind: str,
    body: Mapping[str, JSONValue],
    *,
    priority: str = "routine",
    agenda_version: int | None = None,
    in_reply_to: str | None = None,
) -> dict[str, JSONValue]:
    """The body of a ``submit_message`` command, every field given."""
    return {
        "kind": kind,
        "body": body,
        "priority": priority,
        "in_reply_to": in_reply_to,
        "annexes": [],
        "agenda_version": agenda_version,
    }


class CommandSigner:
    """Signs a track's commands for tests: each at the clock's time, with the next numbered nonce."""

    def __init__(self, clock: Clock, track: str) -> None:
        """Sign for ``track`` at ``clock``'s time."""
        self.clock = clock
        self.track = track
        self.counter = 0

    def sign(self, who: KeyPair, command: str, body: Mapping[str, JSONValue]) -> SignedCommand:
        """``command`` with ``body``, signed by ``who``."""
        self.counter += 1
        return sign_command(
            who.signing, track=self.track, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=f"nonce-{self.counter:08d}",
        )  # fmt: skip
