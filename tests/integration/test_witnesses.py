"""Witnesses against real servers: cosigning, the client's quorum, and a split view caught with its evidence.

Two real uvicorn servers on 127.0.0.1 hold the same track under the same log key
and the same public origin: ``honest`` and ``fork``. They share a byte-identical
prefix (the same signed commands, decided on identical fake clocks with the same
deterministic salts), then diverge: the honest log gets usa's proposal, the fork
gets an iran statement instead, so both have a checkpoint of the same size with
different roots, each signed by the one log key. That is what a mediator showing
different histories to different parties produces. Clients reach "the service"
at the shared origin through a routing transport, so the mediator decides which
server each request really goes to.
"""

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.api import create_app
from backchannel.errors import ConfigurationError
from backchannel.log.checkpoint import NoteSigner, SignedCheckpoint
from backchannel.log.cosignature import CosignatureSigner, InsufficientCosignaturesError
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, sign_command
from backchannel.sdk import BackchannelClient, ForkDetectedError, ProblemError
from backchannel.sdk.witness import SplitViewError, Witness, WitnessState
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.console_world import sign_in
from backchannel.testing.salts import UnsafeDeterministicSalts
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA, message_body, new_key_json, seeded_keys

TRACK = "doha"
ORIGIN = "http://backchannel.test"
LOG = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
NORWAY = seeded_keys(8, "norway/principal")
CHILE = seeded_keys(9, "chile/principal")
NORWAY_KEYS = {NORWAY.name: NORWAY.signing.verifying_key}


def signed(who: KeyPair, command: str, body: dict[str, Any], n: int) -> SignedCommand:
    return sign_command(
        who.signing, track=TRACK, command=command, member=who.name, body=body,
        issued_at=FakeClock().now(), nonce=f"nonce-{n:08d}",
    )  # fmt: skip


def prefix() -> list[SignedCommand]:
    """Open the track: usa and iran (delegations), norway and chile (witnesses), the agenda ratified."""
    script: list[tuple[KeyPair, str, dict[str, Any]]] = [
        (QATAR, "open_track", {
            "title": "Doha", "principal_key": new_key_json(QATAR), "service_key": new_key_json(NODE),
        }),
    ]  # fmt: skip
    for party, kind, principal in (
        ("usa", "delegation", USA), ("iran", "delegation", IRAN),
        ("norway", "witness", NORWAY), ("chile", "witness", CHILE),
    ):  # fmt: skip
        body = {
            "party": party,
            "kind": kind,
            "principal": principal.name,
            "principal_key": new_key_json(principal),
        }
        script.append((QATAR, "admit_party", body))
    script.append((QATAR, "propose_agenda", {"agenda": SMALL_AGENDA.to_dict()}))
    ratify = {"version": 1, "agenda_digest": agenda_digest(SMALL_AGENDA).hex()}
    script += [(USA, "ratify_agenda", ratify), (IRAN, "ratify_agenda", ratify)]
    return [signed(who, command, body, n) for n, (who, command, body) in enumerate(script)]


PROPOSAL = signed(USA, "submit_message", message_body("proposal", {"values": {"enrichment_cap_pct": 3.67}}, agenda_version=1), 100)  # fmt: skip
HIDDEN = signed(
    IRAN, "submit_message", message_body("statement", {"text": "what iran is shown instead"}), 101
)


@dataclass
class Server:
    name: str
    store: SQLiteEventStore
    service: TrackService
    port: int = 0
    stop: Callable[[], None] = field(default=lambda: None)

    def run(self, command: SignedCommand) -> None:
        self.service.execute(command)

    def size(self) -> int:
        return self.store.size(TRACK)


def start(server: Server) -> None:
    stack = contextlib.ExitStack()
    stack.callback(server.store.close)  # after the server stops
    url = stack.enter_context(running(lambda _url: create_app(server.service, public_origin=ORIGIN)))
    server.port = int(url.rsplit(":", 1)[1])
    server.stop = stack.close


def build(path: Path, name: str) -> Server:
    """A service whose bytes depend only on the commands it runs (fake clock, seeded salts)."""
    clock = FakeClock(autojump=timedelta(milliseconds=1))
    store = SQLiteEventStore(path / f"{name}.sqlite3")
    writer = LogWriter(store, LOG, clock=clock, salts=UnsafeDeterministicSalts(b"doha"))
    server = Server(name, store, TrackService(writer, NODE, clock=clock))
    for command in prefix():
        server.run(command)
    return server


class Route(httpx.BaseTransport):
    """The mediator's network: sends requests for ORIGIN to whichever server it chooses."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.server.port)
        real = httpx.Request(request.method, url, headers=request.headers, content=request.read())
        response = self.inner.handle_request(real)
        response.read()
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Net:
    honest: Server
    fork: Server
    tmp: Path
    clients: list[BackchannelClient] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)

    def route(self, server: Server) -> Route:
        route = Route(server)
        self.routes.append(route)
        return route

    def client(self, keys: KeyPair, server: Server | httpx.BaseTransport, **policy: Any) -> BackchannelClient:
        route = self.route(server) if isinstance(server, Server) else server
        client = BackchannelClient(
            ORIGIN, keys.name, keys, transport=route, pinned_log_key=LOG.verifier.to_vkey(),
            sleep=lambda _: None, **policy,
        )  # fmt: skip
        self.clients.append(client)
        return client

    def witness(
        self, server: Server | httpx.BaseTransport, keys: KeyPair = NORWAY, state: str = "norway"
    ) -> Witness:
        return Witness(self.client(keys, server), self.tmp / state, log_key=LOG.verifier.to_vkey())


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    honest, fork = build(tmp_path, "honest"), build(tmp_path, "fork")
    assert honest.store.root(TRACK) == fork.store.root(TRACK)  # one log so far
    start(honest)
    start(fork)
    net = Net(honest, fork, tmp_path)
    try:
        yield net
    finally:
        for client in net.clients:
            client.close()
        for route in net.routes:
            route.close()
        honest.stop()
        fork.stop()


def diverge(net: Net) -> None:
    net.honest.run(PROPOSAL)
    net.fork.run(HIDDEN)
    assert net.honest.size() == net.fork.size()
    assert net.honest.store.root(TRACK) != net.fork.store.root(TRACK)


# --- the split view -----------------------------------------------------------------------------


def test_a_split_view_is_caught_by_the_witness_and_by_clients_requiring_a_cosignature(net: Net) -> None:
    diverge(net)
    size = net.honest.size()

    # norway witnesses the honest view and cosigns it; usa requires norway's cosignature and trusts it
    cosigned = net.witness(net.honest).cosign_latest(TRACK)
    assert (cosigned.status, cosigned.size, cosigned.stored) == ("cosigned", size, True)
    usa_route = net.route(net.honest)
    usa = net.client(USA, usa_route, witnesses=NORWAY_KEYS, witness_quorum=1)
    assert usa.log.checkpoint(TRACK).size == size
    trusted = usa.log.latest_checkpoint(TRACK)
    assert trusted is not None
    assert usa.witnesses.check(trusted).valid == (NORWAY.name,)

    # iran is shown the fork: log-signed, same size, but no witness vouches for it
    iran = net.client(IRAN, net.fork, witnesses={NORWAY.name: net.witness(net.fork).vkey}, witness_quorum=1)
    with pytest.raises(InsufficientCosignaturesError) as refused:
        iran.log.checkpoint(TRACK)
    assert (refused.value.found, refused.value.required, refused.value.size) == (0, 1, size)
    assert "0 valid cosignature(s) from known witnesses (none); 1 required" in str(refused.value)
    assert iran.log.latest_checkpoint(TRACK) is None  # nothing built on it: no inclusion proof either
    with pytest.raises(InsufficientCosignaturesError):
        iran.log.verify_inclusion(TRACK, 0, bytes(32))

    # the mediator shows norway the fork: norway refuses, with both signed checkpoints as evidence
    with pytest.raises(SplitViewError) as split:
        net.witness(net.fork).cosign_latest(TRACK)
    old = SignedCheckpoint.from_text(split.value.old_note)
    new = SignedCheckpoint.from_text(split.value.new_note)
    assert LOG.verifier.verify(old).size == LOG.verifier.verify(new).size == size  # both signed by the log
    assert old.checkpoint.root == net.honest.store.root(TRACK)
    assert new.checkpoint.root == net.fork.store.root(TRACK)
    assert f"two checkpoints of size {size} with different roots" in str(split.value)
    assert isinstance(split.value, ForkDetectedError)
    evidence = split.value.evidence
    assert evidence is not None
    assert split.value.old_note in evidence.read_text()
    assert split.value.new_note in evidence.read_text()
    assert net.fork.store.cosignatures(TRACK, size) == []  # nothing cosigned on the fork
    saved = WitnessState(net.tmp / "norway").load(TRACK)
    assert saved is not None
    assert saved[1].checkpoint == old.checkpoint  # the state still holds the honest checkpoint

    # later usa is routed to the fork too: its client proves the split view from the log's own signatures
    usa_route.server = net.fork
    with pytest.raises(ForkDetectedError) as fork:
        usa.log.checkpoint(TRACK)
    assert SignedCheckpoint.from_text(fork.value.old_note).checkpoint == old.checkpoint
    assert SignedCheckpoint.from_text(fork.value.new_note).checkpoint == new.checkpoint


def test_an_inconsistent_larger_checkpoint_is_a_split_view_too(net: Net) -> None:
    diverge(net)
    net.witness(net.honest).cosign_latest(TRACK)
    net.fork.run(signed(IRAN, "submit_message", message_body("statement", {"text": "more"}), 102))
    with pytest.raises(SplitViewError, match="are not consistent") as split:
        net.witness(net.fork).cosign_latest(TRACK)
    old = SignedCheckpoint.from_text(split.value.old_note).checkpoint
    new = SignedCheckpoint.from_text(split.value.new_note).checkpoint
    assert old.size < new.size
    assert old.root == net.honest.store.root(TRACK, old.size) != net.fork.store.root(TRACK, old.size)
    net.witness(net.honest).cosign_latest(TRACK)  # the honest log goes on being witnessed


# --- honest operation ----------------------------------------------------------------------------


def test_the_witness_cosigns_each_new_checkpoint_after_proving_consistency(net: Net) -> None:
    witness = net.witness(net.honest)
    first = witness.cosign_latest(TRACK)
    assert (first.status, first.previous_size) == ("cosigned", None)
    again = witness.cosign_latest(TRACK)
    assert (again.status, again.size, again.stored) == ("unchanged", first.size, False)
    net.honest.run(PROPOSAL)
    second = witness.cosign_latest(TRACK)
    assert (second.status, second.previous_size, second.size) == ("cosigned", first.size, first.size + 1)
    stored = net.honest.store.cosignatures(TRACK, second.size)
    assert [s.cosigner for s in stored] == [NORWAY.name]
    note = SignedCheckpoint.from_text(net.client(USA, net.honest).log.fetch_checkpoint(TRACK).to_text())
    assert LOG.verifier.verify(note).size == second.size  # clients ignorant of witnesses still verify it
    assert witness.signer.verifier.verify(note).name == NORWAY.name


def test_a_restarted_witness_continues_from_its_state_and_keeps_its_log_key(net: Net) -> None:
    net.witness(net.honest).cosign_latest(TRACK)
    net.honest.run(PROPOSAL)
    unpinned = Witness(net.client(NORWAY, net.honest), net.tmp / "norway")  # the log key comes from the state
    assert unpinned.cosign_latest(TRACK).status == "cosigned"
    other_log = NoteSigner("test.log", SigningKey.from_seed(b"\x0a" * 32)).verifier.to_vkey()
    with pytest.raises(ConfigurationError, match="is not the one this state recorded"):
        Witness(net.client(NORWAY, net.honest), net.tmp / "norway", log_key=other_log).cosign_latest(TRACK)
    with pytest.raises(ConfigurationError, match="not a vkey"):
        Witness(net.client(NORWAY, net.honest), net.tmp / "norway", log_key="nonsense")
    fresh = Witness(net.client(CHILE, net.honest), net.tmp / "chile")  # first use: the service's log key
    assert fresh.cosign_latest(TRACK).status == "cosigned"
    assert WitnessState(net.tmp / "chile").load(TRACK) is not None


def test_a_damaged_state_stops_the_witness(net: Net) -> None:
    state = WitnessState(net.tmp / "norway")
    state.directory.mkdir()
    for text in ("{", json.dumps({"format": "other"}), json.dumps({
        "format": "backchannel-witness/1", "track": "elsewhere", "log_key": "k", "checkpoint": "c",
    }), json.dumps({"format": "backchannel-witness/1", "track": TRACK, "log_key": 1, "checkpoint": "c"})):  # fmt: skip
        state.path(TRACK).write_text(text)
        with pytest.raises(ConfigurationError, match="is damaged"):
            net.witness(net.honest).cosign_latest(TRACK)


def test_an_older_checkpoint_is_checked_but_not_cosigned(net: Net) -> None:
    witness = net.witness(net.honest)
    first = witness.cosign_latest(TRACK)
    net.honest.run(PROPOSAL)
    witness.cosign_latest(TRACK)
    older = next(
        n for n in net.honest.store.checkpoints(TRACK, first.size) if n.checkpoint.size == first.size
    )

    honest = net.route(net.honest)

    def replay_old(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/checkpoint"):
            return httpx.Response(
                200, json={"checkpoint": older.to_text(), "size": first.size, "log_key": ""}
            )
        return honest.handle_request(request)

    stale = Witness(net.client(NORWAY, httpx.MockTransport(replay_old)), net.tmp / "norway")
    result = stale.cosign_latest(TRACK)
    assert (result.status, result.size, result.previous_size, result.stored) == (
        "stale",
        first.size,
        first.size + 1,
        False,
    )


def test_run_witnesses_rounds_and_stops_vouching_for_a_forked_track(net: Net) -> None:
    diverge(net)
    net.witness(net.honest).cosign_latest(TRACK)
    forked = net.witness(net.fork)
    outcomes = list(forked.run([TRACK, "nope"], interval=0, rounds=2, sleep=lambda _: None))
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["SplitViewError", "ProblemError", "ProblemError"]  # doha refused once, then skipped


# --- the client's quorum -------------------------------------------------------------------------


def test_a_client_falls_back_to_the_newest_cosigned_checkpoint(net: Net) -> None:
    cosigned = net.witness(net.honest).cosign_latest(TRACK)
    net.honest.run(PROPOSAL)  # the latest checkpoint is not cosigned yet
    usa = net.client(USA, net.honest, witnesses=NORWAY_KEYS)
    assert usa.witnesses.quorum == 1  # by default, every witness named
    assert usa.log.checkpoint(TRACK).size == cosigned.size
    entry = next(net.honest.store.read(TRACK, 0, 1))
    assert usa.log.verify_inclusion(TRACK, 0, entry.leaf_hash).size == cosigned.size
    both = net.client(USA, net.honest, witnesses={**NORWAY_KEYS, CHILE.name: CHILE.signing.verifying_key})
    with pytest.raises(
        InsufficientCosignaturesError,
        match=r"size 10 .* 0 valid cosignature\(s\) from known witnesses \(none\); 2 required",
    ):
        both.log.checkpoint(TRACK)
    net.witness(net.honest, CHILE, "chile").cosign_latest(TRACK)
    net.witness(net.honest).cosign_latest(TRACK)
    assert both.log.checkpoint(TRACK).size == cosigned.size + 1
    assert (
        net.client(USA, net.honest, witnesses=NORWAY_KEYS, witness_quorum=0).log.checkpoint(TRACK).size
        == cosigned.size + 1
    )


def test_the_client_policy_is_checked_when_it_is_built(net: Net) -> None:
    with pytest.raises(ConfigurationError, match="quorum"):
        net.client(USA, net.honest, witnesses=NORWAY_KEYS, witness_quorum=2)
    chile_vkey = CosignatureSigner(CHILE.name, CHILE.signing).verifier.to_vkey()
    with pytest.raises(ConfigurationError, match="its vkey names"):
        net.client(USA, net.honest, witnesses={NORWAY.name: chile_vkey})


def test_a_cosigned_checkpoint_inconsistent_with_the_latest_one_is_a_fork(net: Net) -> None:
    """The service serves the latest checkpoint from one history and the cosigned one from another."""
    net.witness(net.fork).cosign_latest(TRACK)
    diverge(net)
    net.witness(net.fork).cosign_latest(TRACK)

    honest, fork = net.route(net.honest), net.route(net.fork)

    def mixed(request: httpx.Request) -> httpx.Response:
        return (fork if "cosigned=" in str(request.url) else honest).handle_request(request)

    usa = net.client(USA, httpx.MockTransport(mixed), witnesses=NORWAY_KEYS)
    with pytest.raises(ForkDetectedError):
        usa.log.checkpoint(TRACK)


# --- the endpoint --------------------------------------------------------------------------------


def problem(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ProblemError) as info:
        call()
    return info.value.status, info.value.type.rsplit("/", 1)[-1]


def test_the_service_checks_each_cosignature_before_storing_it(net: Net) -> None:
    size = net.honest.size()
    note = next(iter(net.honest.store.checkpoints(TRACK, size)))
    norway, usa = net.client(NORWAY, net.honest), net.client(USA, net.honest)
    signer = CosignatureSigner(NORWAY.name, NORWAY.signing)
    now = int(time.time())
    line = signer.cosign(note.checkpoint, now).to_line()
    assert problem(lambda: usa.log.add_cosignature(TRACK, size, line)) == (403, "not-authorized")
    usa_line = CosignatureSigner(USA.name, USA.signing).cosign(note.checkpoint, now).to_line()
    assert problem(lambda: usa.log.add_cosignature(TRACK, size, usa_line)) == (403, "not-authorized")
    chile_line = CosignatureSigner(CHILE.name, CHILE.signing).cosign(note.checkpoint, now).to_line()
    assert problem(lambda: norway.log.add_cosignature(TRACK, size, chile_line)) == (
        422,
        "verification-failed",
    )
    renamed = CosignatureSigner(NORWAY.name, CHILE.signing).cosign(note.checkpoint, now).to_line()
    assert problem(lambda: norway.log.add_cosignature(TRACK, size, renamed)) == (422, "verification-failed")
    assert problem(lambda: norway.log.add_cosignature(TRACK, size - 1, line)) == (422, "verification-failed")
    assert problem(lambda: norway.log.add_cosignature(TRACK, size + 5, line)) == (404, "not-found")
    future = signer.cosign(note.checkpoint, now + 3600).to_line()
    assert problem(lambda: norway.log.add_cosignature(TRACK, size, future)) == (422, "verification-failed")
    assert problem(lambda: norway.log.add_cosignature(TRACK, size, "— not a line")) == (
        400,
        "malformed-request",
    )
    assert problem(
        lambda: norway.log.add_cosignature(TRACK, size, LOG.signature(note.checkpoint).to_line())
    ) == (
        400,
        "malformed-request",
    )
    assert problem(lambda: norway.log.add_cosignature("nope", size, line)) == (404, "not-found")
    assert net.honest.store.cosignatures(TRACK, size) == []  # nothing refused was stored
    first = norway.log.add_cosignature(TRACK, size, line)
    assert (first["created"], first["cosigner"], first["timestamp"]) == (True, NORWAY.name, now)
    assert first["checkpoint"].endswith(line + "\n")
    assert norway.log.add_cosignature(TRACK, size, line)["created"] is False
    older = signer.cosign(note.checkpoint, now - 10).to_line()
    assert norway.log.add_cosignature(TRACK, size, older)["created"] is False
    assert [s.line for s in net.honest.store.cosignatures(TRACK, size)] == [line]


def test_a_cosignature_request_body_is_strict(net: Net) -> None:
    norway = net.client(NORWAY, net.honest)
    path = f"/v1/tracks/{TRACK}/checkpoints/{net.honest.size()}/cosignatures"
    for body in (b"[]", b'{"cosignature": 1}', b'{"cosignature": "x", "extra": 1}', b"{"):
        response = norway.send("POST", path, body=body)
        assert response.status_code == 400, response.text
    response = norway.send("POST", f"/v1/tracks/{TRACK}/checkpoints/0/cosignatures", body=b"{}")
    assert response.status_code == 422  # sizes start at 1


def test_checkpoint_cosigned_k_returns_the_newest_with_k_and_can_wait(net: Net) -> None:
    usa = net.client(USA, net.honest)
    assert problem(lambda: usa.log.fetch_checkpoint(TRACK, cosigned=1)) == (404, "not-found")
    first = net.witness(net.honest).cosign_latest(TRACK)
    net.honest.run(PROPOSAL)
    assert usa.log.fetch_checkpoint(TRACK, cosigned=1).checkpoint.size == first.size
    assert usa.log.fetch_checkpoint(TRACK).checkpoint.size == first.size + 1
    assert problem(lambda: usa.log.fetch_checkpoint(TRACK, cosigned=2)) == (404, "not-found")

    def cosign_soon() -> None:
        time.sleep(0.3)
        net.witness(net.honest).cosign_latest(TRACK)
        net.witness(net.honest, CHILE, "chile").cosign_latest(TRACK)

    helper = threading.Thread(target=cosign_soon)
    helper.start()
    try:
        answer = usa.get_json(f"/v1/tracks/{TRACK}/checkpoint", cosigned=2, timeout=20)
    finally:
        helper.join()
    note = SignedCheckpoint.from_text(answer["checkpoint"])
    assert note.checkpoint.size == first.size + 1
    assert len(note.signatures) == 3  # the log's, norway's and chile's


def test_a_verification_error_is_not_swallowed_by_the_fallback(net: Net) -> None:
    """A 404 is the only answer the client reads as 'no cosigned checkpoint yet'."""
    net.witness(net.honest).cosign_latest(TRACK)
    net.honest.run(PROPOSAL)

    honest = net.route(net.honest)

    def broken(request: httpx.Request) -> httpx.Response:
        if "cosigned=" in str(request.url):
            return httpx.Response(503, json={"type": "about:blank", "status": 503, "detail": "down"})
        return honest.handle_request(request)

    usa = net.client(USA, httpx.MockTransport(broken), witnesses=NORWAY_KEYS)
    assert problem(lambda: usa.log.checkpoint(TRACK))[0] == 503
    assert usa.log.latest_checkpoint(TRACK) is None


# --- split-view alarms (issue #12: the console shows them) ---------------------------------------


def sign_in_page(server: Server, keys: KeyPair) -> str:
    """Sign ``keys`` in to the console of ``server`` with a one-time link; read the track's page."""
    url = f"http://127.0.0.1:{server.port}"
    cookies = sign_in(url, TRACK, keys, origin=ORIGIN)
    return httpx.get(f"{url}/console/tracks/{TRACK}", cookies=cookies).text


def test_a_witness_reports_the_split_view_and_every_member_reads_the_alarm(net: Net) -> None:
    diverge(net)
    size = net.honest.size()
    net.witness(net.honest).cosign_latest(TRACK)
    with pytest.raises(SplitViewError) as split:  # shown the fork, norway refuses and reports it there
        net.witness(net.fork).cosign_latest(TRACK)
    usa = net.client(USA, net.fork)
    [alarm] = usa.log.split_views(TRACK)  # any member reads it, even on the fork's own service
    assert (alarm["reporter"], alarm["old"], alarm["new"]) == (
        NORWAY.name, split.value.old_note, split.value.new_note,
    )  # fmt: skip
    assert alarm["reason"] == f"the old checkpoint's root at size {size} is not the log's"
    assert net.honest.store.split_views(TRACK) == []

    # chile brings the same evidence to the honest service: there the new note is the one off the log
    chile = net.client(CHILE, net.honest)
    first = chile.log.report_split_view(TRACK, split.value.old_note, split.value.new_note)
    assert first["created"] is True
    assert [a["reason"] for a in first["split_views"]] == [
        f"the new checkpoint's root at size {size} is not the log's"
    ]
    again = chile.log.report_split_view(TRACK, split.value.old_note, split.value.new_note)
    assert (again["created"], len(again["split_views"])) == (False, 1)  # the same evidence: one alarm

    page = sign_in_page(net.honest, USA)
    assert '<li class="split-view">' in page
    assert "SPLIT VIEW</span> reported by chile/principal" in page


def test_the_service_checks_split_view_evidence_before_keeping_it(net: Net) -> None:
    diverge(net)
    honest = net.honest.store.latest_checkpoint(TRACK)
    assert honest is not None
    fork = net.fork.store.latest_checkpoint(TRACK)
    assert fork is not None
    chile = net.client(CHILE, net.honest)

    def refused(who: BackchannelClient, old: str, new: str) -> ProblemError:
        with pytest.raises(ProblemError) as problem:
            who.log.report_split_view(TRACK, old, new)
        return problem.value

    assert "No split-view alarm" in sign_in_page(net.honest, USA)
    not_witness = refused(net.client(USA, net.honest), honest.to_text(), fork.to_text())
    assert not_witness.status == 403
    assert "only a member of a witness party may" in str(not_witness)
    earlier = next(net.honest.store.checkpoints(TRACK))
    consistent = refused(chile, earlier.to_text(), honest.to_text())
    assert consistent.status == 422
    assert "they are consistent, so they are not a split view" in str(consistent)
    stranger = NoteSigner("test.log", SigningKey.from_seed(b"\x0b" * 32))
    forged = SignedCheckpoint(fork.checkpoint, (stranger.sign_bytes(fork.checkpoint.to_bytes()),))
    not_log = refused(chile, honest.to_text(), forged.to_text())
    assert not_log.status == 422
    assert str(not_log).count("new:") == 1
    garbage = refused(chile, "not a note", honest.to_text())
    assert "old:" in str(garbage)
    assert garbage.status in {400, 422}
    huge = refused(chile, honest.to_text(), "x" * 5000)
    assert "at most 4096 characters" in str(huge)
    for body in ({"old": honest.to_text()}, {"old": 1, "new": 2}, {"old": "a", "new": "b", "x": "c"}):
        with pytest.raises(ProblemError) as shape:
            chile.post_json(f"/v1/tracks/{TRACK}/split-views", body)  # type: ignore[arg-type]
        assert "exactly two string fields, 'old' and 'new'" in str(shape.value)
    assert net.honest.store.split_views(TRACK) == []  # nothing was kept
