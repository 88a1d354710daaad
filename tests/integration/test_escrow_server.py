"""Attestations and escrow end to end: the SDK against a real uvicorn server on 127.0.0.1 (ADR-0017).

The server's clock is a :class:`FakeClock` shared with the clients, so days
pass in the test without sleeping: inspectors attest once a day as the clock
moves, a release asked for early is refused with its progress, and the
lifespan ticker refunds an escrow once the clock passes its expiry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from backchannel.api import create_app
from backchannel.demo.escrow import escrow_scene
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.escrow import EscrowService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
IAEA = pair(5, "iaea/principal")
EURATOM = pair(6, "euratom/principal")
METRIC = "iaea.enrichment_pct"
PREDICATE = "iaea.enrichment_pct <= 3.67 sustained for 30 days"
DAY = timedelta(days=1)


@dataclass
class Server:
    url: str
    clock: FakeClock
    store: SQLiteEventStore
    writer: LogWriter
    tracks: TrackService

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url,
            keys.name,
            keys,
            clock=self.clock,
            pinned_log_key=self.writer.log_key,
            sleep=lambda _: None,
        )


Start = Callable[..., Server]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    stops: list[Callable[[], None]] = []

    def _start(tick_interval: float | None = None, *, inspectors: bool = True) -> Server:
        clock = FakeClock()
        store = SQLiteEventStore(tmp_path / f"db{len(stops)}.sqlite3")
        writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
        tracks = TrackService(writer, NODE, clock=clock)
        stack = contextlib.ExitStack()
        stack.callback(store.close)  # after the server stops
        url = stack.enter_context(
            running(
                lambda url: create_app(tracks, public_origin=url, clock=clock, tick_interval=tick_interval),
                lifespan=tick_interval is not None,
            )
        )
        stops.append(stack.close)
        server = Server(url, clock, store, writer, tracks)
        setup(server, inspectors=inspectors)
        return server

    yield _start
    for stop in stops:
        stop()


def setup(server: Server, *, inspectors: bool = True) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        admitted = [(USA, "delegation"), (IRAN, "delegation")]
        admitted += [(IAEA, "inspector"), (EURATOM, "inspector")] if inspectors else []
        for principal, kind in admitted:
            qatar.execute("admit_party", {
                "party": principal.name.split("/")[0], "kind": kind, "principal": principal.name,
                "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            body = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
            client.execute("ratify_agenda", body, track=TRACK)


def terms(server: Server, **changes: Any) -> dict[str, Any]:
    return {
        "escrow_id": "frozen-assets",
        "items": [
            {
                "what": "frozen assets",
                "amount": 6_000_000_000,
                "unit": "USD",
                "owner": "usa",
                "beneficiary": "iran",
            }
        ],
        "signers": ["usa", "qatar"],
        "threshold": 2,
        "predicates": [PREDICATE],
        "expires_at": format_timestamp(server.clock.now() + 90 * DAY),
        **changes,
    }


def problem(call: Callable[[], object]) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        call()
    return caught.value


def define(server: Server) -> None:
    with server.client(QATAR) as qatar:
        result = qatar.attestations.define_metric(
            TRACK, METRIC, unit="%", inspectors=["iaea", "euratom"], quorum=2, tolerance=0.1,
            issue="enrichment_cap_pct",
        )  # fmt: skip
    assert [e["type"] for e in result["events"]] == ["metric.defined"]


def test_bad_metric_and_attestation_input_is_refused_naming_the_field(start: Start) -> None:
    server = start()
    with server.client(QATAR) as qatar:
        wrong = problem(
            lambda: qatar.attestations.define_metric(
                TRACK,
                METRIC,
                unit="kg",
                inspectors=["iaea"],
                quorum=1,
                tolerance=0,
                issue="enrichment_cap_pct",
            )
        )
    assert (wrong.status, wrong.problem["violations"][0]["field"]) == (422, "unit")
    assert "does not match the agenda's '%'" in wrong.problem["detail"]
    define(server)
    size = server.store.size(TRACK)
    with server.client(USA) as usa:
        refused = problem(lambda: usa.attestations.attest(TRACK, METRIC, 3.6, unit="%", site="natanz"))
    assert (refused.status, refused.type.rsplit("/", 1)[1]) == (403, "not-authorized")
    with server.client(IAEA) as iaea:
        unit = problem(lambda: iaea.attestations.attest(TRACK, METRIC, 3.6, unit="kg", site="natanz"))
        unknown = problem(
            lambda: iaea.attestations.attest(TRACK, "iaea.stockpile_kg", 3.6, unit="kg", site="natanz")
        )
    assert (unit.status, unit.problem["violations"][0]["field"]) == (422, "unit")
    assert (unknown.status, unknown.type.rsplit("/", 1)[1]) == (422, "unknown-metric")
    assert server.store.size(TRACK) == size  # nothing half-applied


def test_a_malformed_predicate_is_refused_with_its_column(start: Start) -> None:
    server = start()
    define(server)
    with server.client(QATAR) as qatar:
        bad = problem(
            lambda: qatar.escrow.open(TRACK, terms(server, predicates=["iaea.enrichment_pct is low"]))
        )
        closed = problem(lambda: qatar.escrow.open(TRACK, terms(server, signers=[], threshold=0)))
    assert bad.status == 422
    assert bad.problem["violations"][0]["field"] == "predicates.0"
    assert "at column 21: expected a comparator (<, <=, ==, >=, >), got 'is'" in bad.problem["detail"]
    assert [v["field"] for v in closed.problem["violations"]] == ["signers", "threshold"]


def test_six_billion_released_only_after_thirty_attested_days(start: Start) -> None:
    server = start()
    define(server)
    with (
        server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran,
        server.client(IAEA) as iaea, server.client(EURATOM) as euratom,
    ):  # fmt: skip
        opened = qatar.escrow.open(TRACK, terms(server))
        assert [e["type"] for e in opened["events"]] == ["escrow.opened"]
        early = problem(lambda: iran.escrow.release(TRACK, "frozen-assets"))
        assert (early.status, early.type.rsplit("/", 1)[1]) == (409, "escrow-condition-unmet")
        assert early.problem["progress"] == f"0 of 2 signatures; predicate `{PREDICATE}` held 0 of 30 days"
        usa.escrow.sign_release(TRACK, "frozen-assets")
        qatar.escrow.sign_release(TRACK, "frozen-assets")
        for day in range(12):  # a day passes between measurements: the clock, not sleep
            server.clock.advance(DAY)
            iaea.attestations.attest(TRACK, METRIC, 3.60 + day / 1000, unit="%", site="natanz")
            quorum = euratom.attestations.attest(TRACK, METRIC, 3.62, unit="%", site="natanz")
            assert [e["type"] for e in quorum["events"]] == [
                "attestation.filed",
                "attestation.quorum_reached",
            ]
        server.clock.advance(DAY)
        shown = usa.escrow.get(TRACK, "frozen-assets")
        assert shown["check"]["predicates"][0]["held"] == 12
        still = problem(lambda: iran.escrow.release(TRACK, "frozen-assets"))
        assert still.problem["progress"] == f"2 of 2 signatures; predicate `{PREDICATE}` held 12 of 30 days"
        # the rest of the window, back-filled: observed on the 18 days before the first ones
        first = server.clock.now() - 12 * DAY  # the day of the first measurement
        for inspector in (iaea, euratom):
            results = inspector.attestations.attest_daily(
                TRACK, METRIC, [3.6] * 18, unit="%", site="natanz", end=first
            )
            assert {r["status"] for r in results} == {201}
        ready = iran.escrow.get(TRACK, "frozen-assets")
        assert ready["check"]["releasable"] is True
        released = iran.escrow.release(TRACK, "frozen-assets")
        (event,) = released["events"]
        assert event["type"] == "escrow.released"
        assert event["reason"] == f"releasable: 2 of 2 signatures; predicate `{PREDICATE}` held 30 of 30 days"
        after = usa.escrow.get(TRACK, "frozen-assets")
        assert (after["status"], after["closed_by"]) == ("released", "iran/principal")
        again = problem(lambda: iran.escrow.release(TRACK, "frozen-assets"))
        assert again.status == 409
        hidden = problem(lambda: iaea.escrow.get(TRACK, "frozen-assets"))
        missing = problem(lambda: usa.escrow.get(TRACK, "no-such-escrow"))
        assert (hidden.status, hidden.problem["detail"]) == (404, "no escrow 'frozen-assets' on track 'doha'")
        assert (missing.status, missing.problem["detail"]) == (
            404,
            "no escrow 'no-such-escrow' on track 'doha'",
        )
    replay(server.store, TRACK)  # every command re-verified and re-decided at its recorded time


def test_conflicting_attestations_are_flagged_through_the_api(start: Start) -> None:
    server = start()
    define(server)
    with server.client(IAEA) as iaea, server.client(EURATOM) as euratom, server.client(USA) as usa:
        iaea.attestations.attest(TRACK, METRIC, 3.6, unit="%", site="fordow")
        flagged = euratom.attestations.attest(TRACK, METRIC, 20.0, unit="%", site="fordow")
        assert [e["type"] for e in flagged["events"]] == ["attestation.filed", "attestation.conflict_flagged"]
        seen = [e["signed"]["event"]["type"] for e in usa.log.events(TRACK)]
        iaea_seen = [e["signed"]["event"]["type"] for e in iaea.log.events(TRACK)]
    assert seen.count("attestation.filed") == 2
    assert "attestation.conflict_flagged" in seen
    assert iaea_seen.count("attestation.filed") == 1  # inspectors do not see each other's values


def test_the_lifespan_ticker_refunds_at_expiry(start: Start) -> None:
    server = start(tick_interval=0.05)
    define(server)
    with server.client(QATAR) as qatar, server.client(USA) as usa:
        qatar.escrow.open(TRACK, terms(server, expires_at=format_timestamp(server.clock.now() + DAY)))
        assert usa.escrow.get(TRACK, "frozen-assets")["status"] == "open"
        server.clock.advance(DAY)
        deadline = time.monotonic() + 10
        while usa.escrow.get(TRACK, "frozen-assets")["status"] != "refunded":
            assert time.monotonic() < deadline, "the ticker did not refund the expired escrow"
            time.sleep(0.02)
        shown = usa.escrow.get(TRACK, "frozen-assets")
        assert shown["closed_by"] == "qatar/service"
        assert shown["check"]["reason"].startswith("refunded at")
    refunds = [
        s
        for s in server.store.read(TRACK, 0, server.store.size(TRACK))
        if s.decode().signed.event.type == "escrow.refunded"
    ]
    assert len(refunds) == 1
    replay(server.store, TRACK)


def test_expiry_ticks_are_idempotent_across_restarts(start: Start) -> None:
    server = start()
    define(server)
    with server.client(QATAR) as qatar:
        qatar.escrow.open(TRACK, terms(server, expires_at=format_timestamp(server.clock.now() + DAY)))
    escrows = EscrowService(server.tracks, NODE, clock=server.clock)
    assert escrows.tick(TRACK) == []
    assert escrows.next_wakeup(TRACK) == server.clock.now() + DAY
    server.clock.advance(DAY)
    assert escrows.due(TRACK) == ["frozen-assets"]
    assert escrows.tick(TRACK) == ["frozen-assets"]
    size = server.store.size(TRACK)
    assert escrows.tick(TRACK) == []
    restarted = EscrowService(TrackService(server.writer, NODE, clock=server.clock), NODE, clock=server.clock)
    assert restarted.tick(TRACK) == []
    assert restarted.tick_due() == 1.0
    assert server.store.size(TRACK) == size
    assert escrows.next_wakeup(TRACK) is None
    replay(server.store, TRACK)


def test_the_demo_scene_plays_and_every_check_passes(start: Start) -> None:
    server = start(inspectors=False)  # the scene admits them
    checks: list[tuple[str, str, bool, str]] = []
    console = Console(record=True, width=120)
    with contextlib.ExitStack() as stack:
        clients = {k.name: stack.enter_context(server.client(k)) for k in (QATAR, USA, IRAN, IAEA, EURATOM)}
        escrow_scene(console, TRACK, clients, lambda *c: checks.append(c), issue="enrichment_cap_pct")
    assert len(checks) == 8
    assert all(ok for _, _, ok, _ in checks), [c for c in checks if not c[2]]
    assert "held 30 of 30 days" in console.export_text()
    replay(server.store, TRACK)


def test_issue_8_an_unknown_escrow_is_404_on_release_sign_and_show(start: Start) -> None:
    server = start()
    with server.client(IRAN) as iran, server.client(USA) as usa:
        released = problem(lambda: iran.escrow.release(TRACK, "no-such-escrow"))
        signed = problem(lambda: usa.escrow.sign_release(TRACK, "no-such-escrow"))
        shown = problem(lambda: usa.escrow.get(TRACK, "no-such-escrow"))
    assert [p.status for p in (released, signed, shown)] == [404, 404, 404]
