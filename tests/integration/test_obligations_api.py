"""Obligations end to end (ADR-0018): a real server on 127.0.0.1, the SDK, the ticker, replay and the CLI.

The world: mediator ``qatar``, delegations ``usa`` and ``iran``, inspector
``iaea`` and witness ``guarantor``; the small agenda ratified. ``iran`` is
bound by ``iran-enrichment`` (5 kg per 30 days, burst 20 kg, ladder none ->
sanctions-tier-1 -> -2 -> -3, hold 14 days, 50% recovery), shared with
``usa``. Time is a :class:`FakeClock`; the server's lifespan ticker signs
the reviews.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backchannel.api import create_app
from backchannel.cli.main import app as cli_app
from backchannel.cli.main import out as cli_out
from backchannel.clock import SystemClock
from backchannel.domain.agreements.obligations import MICRO, instant_us, meter, start
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.protocol.wire import agenda_digest, sign_command
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.log import Draft, LogWriter
from backchannel.service.obligations import ObligationService, obligation_view, review_key
from backchannel.service.tracks import TrackService, replay
from backchannel.store.memory import MemoryEventStore
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
GUARANTOR = pair(6, "guarantor/principal")
DAY = 86_400
TERMS: dict[str, Any] = {
    "obligation": "iran-enrichment",
    "party": "iran",
    "metric": "enriched_kg",
    "unit": "kg",
    "rate": 5,
    "burst": 20,
    "period_seconds": 30 * DAY,
    "ladder": ["none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3"],
    "hold_seconds": 14 * DAY,
    "recovery_pct": 50,
    "shared_with": ["usa"],
}


@dataclass
class Server:
    url: str
    clock: Any
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


@contextmanager
def serving(tmp_path: Path, clock: Any) -> Iterator[Server]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    try:
        with running(
            lambda url: create_app(tracks, public_origin=url, clock=clock, tick_interval=0.05), lifespan=True
        ) as url:
            yield Server(url, clock, store, writer, tracks)
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path, FakeClock(autojump=timedelta(milliseconds=1))) as running:
        yield running


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Server]:
    """On the system clock, as the demo runs (the CLI signs requests with the system clock)."""
    with serving(tmp_path, SystemClock()) as running:
        yield running


def open_track(server: Server) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for principal, kind in ((USA, "delegation"), (IRAN, "delegation"), (IAEA, "inspector"), (GUARANTOR, "witness")):  # fmt: skip
            qatar.execute("admit_party", {
                "party": principal.name.split("/")[0], "kind": kind, "principal": principal.name,
                "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            body = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
            client.execute("ratify_agenda", body, track=TRACK)


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the ticker did not act in time"
        time.sleep(0.02)


def test_an_overdraw_escalates_and_the_ticker_steps_it_down(server: Server) -> None:
    open_track(server)
    with server.client(QATAR) as qatar, server.client(IAEA) as iaea, server.client(IRAN) as iran:
        # the unit must match the agenda issue the metric names: refused, nothing logged
        size = server.store.size(TRACK)
        with pytest.raises(ProblemError) as refused:
            qatar.obligations.define(TRACK, {**TERMS, "metric": "enrichment_cap_pct", "unit": "kg"})
        assert refused.value.status == 422
        assert [v["field"] for v in refused.value.problem["violations"]] == ["unit"]
        assert server.store.size(TRACK) == size

        qatar.obligations.define(TRACK, TERMS)
        server.clock.advance(timedelta(hours=1))
        result = iaea.obligations.record_consumption(
            TRACK, "iran-enrichment", 30, "kg", source="iaea-report-1"
        )
        assert [e["type"] for e in result["events"]] == ["obligation.metered", "obligation.escalated"]
        with pytest.raises(ProblemError) as denied:
            iran.obligations.record_consumption(TRACK, "iran-enrichment", 1, "kg")
        assert denied.value.status == 403
        with pytest.raises(ProblemError) as wrong_unit:
            iaea.obligations.record_consumption(TRACK, "iran-enrichment", 1, "t")
        assert wrong_unit.value.problem["violations"][0]["field"] == "unit"

        view = iran.obligations.get(TRACK, "iran-enrichment")
        assert (view["level"], view["tier"], view["tokens"], view["overdraws"]) == (
            1,
            "sanctions-tier-1",
            "-10",
            1,
        )
        due = view["next_step_down"]
        assert due is not None
        (up,) = view["history"]
        assert (up["direction"], up["source"], up["overdraw"]) == ("up", "iaea-report-1", "10")

        # 120 days of refill bring the debt of 10 kg back to 10 kg (50% of the burst)
        server.clock.advance(timedelta(days=120))
        wait_for(lambda: qatar.obligations.get(TRACK, "iran-enrichment")["level"] == 0)
        view = qatar.obligations.get(TRACK, "iran-enrichment")
        down = view["history"][-1]
        assert (down["direction"], down["effective_at"], down["tokens"]) == ("down", due, "10")
        assert down["held_since"] == up["effective_at"]
        # the ticker never logs a step twice
        size = server.store.size(TRACK)
        server.clock.advance(timedelta(days=400))
        time.sleep(0.2)
        assert server.store.size(TRACK) == size

    # visibility: the bound party, the party it is shared with, the inspector; a witness gets the unknown-id 404
    for keys in (QATAR, USA, IRAN, IAEA):
        with server.client(keys) as client:
            assert client.obligations.get(TRACK, "iran-enrichment")["obligation"] == "iran-enrichment"
    with server.client(GUARANTOR) as guarantor:
        for name in ("iran-enrichment", "no-such"):
            with pytest.raises(ProblemError) as hidden:
                guarantor.obligations.get(TRACK, name)
            assert hidden.value.status == 404
            assert hidden.value.problem["detail"] == f"no obligation {name!r} on track {TRACK!r}"

    # replay re-decides every command, the service's reviews included, to the same state
    replayed = replay(server.store, TRACK)
    live = server.tracks.state(TRACK)
    assert live is not None
    assert replayed.obligations == live.obligations


def test_the_review_is_idempotent_across_ticks_and_restarts(tmp_path: Path) -> None:
    clock = FakeClock(autojump=timedelta(milliseconds=1))
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    reviews = ObligationService(tracks, NODE, clock=clock)
    assert (reviews.due(TRACK), reviews.next_wakeup(TRACK), reviews.tick_due()) == ([], None, None)
    execute = _executor(tracks, clock)
    _open(execute)
    execute(
        QATAR,
        "define_obligation",
        {**TERMS, "shared_with": [], "hold_seconds": 60, "period_seconds": 100, "rate": 20},
    )
    assert reviews.tick(TRACK) == []
    assert reviews.next_wakeup(TRACK) is None
    execute(IAEA, "record_consumption", _record(clock, 25))
    due = reviews.next_wakeup(TRACK)
    assert due is not None
    assert reviews.tick_due() is not None
    assert reviews.tick(TRACK) == []  # not yet
    clock.advance(due - clock.now())
    (result,) = reviews.tick(TRACK)
    assert [e.type for e in result.events] == ["obligation.deescalated"]
    assert reviews.tick(TRACK) == []
    again = ObligationService(TrackService(writer, NODE, clock=clock), NODE, clock=clock)  # a restart
    assert again.tick(TRACK) == []
    state = tracks.state(TRACK)
    assert state is not None
    record = state.obligations["iran-enrichment"]
    assert state.idempotent_result(state.service_member, review_key(record)) is None
    assert len(record.steps) == 2
    assert again._review(TRACK, "iran-enrichment") is None  # nothing due: refused, quietly


def test_a_failing_track_does_not_stop_the_others(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    writer.open_track("broken")  # a log that is not a track's: folding it fails
    writer.append("broken", [Draft("statement.made", "usa/alice", {"text": "hi"}, USA.signing)])
    execute = _executor(tracks, clock)
    _open(execute)
    execute(
        QATAR, "define_obligation", {**TERMS, "shared_with": [], "hold_seconds": 60, "period_seconds": 100}
    )
    execute(IAEA, "record_consumption", _record(clock, 25))
    reviews = ObligationService(tracks, NODE, clock=clock)
    clock.advance(timedelta(days=1))
    assert reviews.tick_due() is None  # "broken" failed (logged); doha was reviewed, to level 0
    state = tracks.state(TRACK)
    assert state is not None
    assert state.obligations["iran-enrichment"].level == 0


def _executor(tracks: TrackService, clock: FakeClock) -> Any:
    count = iter(range(10**6))

    def execute(who: KeyPair, command: str, body: dict[str, Any]) -> Any:
        signed = sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=clock.now(), nonce=f"nonce-{next(count):06d}",
        )  # fmt: skip
        return tracks.execute(signed)

    return execute


def _open(execute: Any) -> None:
    execute(QATAR, "open_track", {
        "title": "Doha", "principal_key": new_key(QATAR), "service_key": new_key(NODE),
    })  # fmt: skip
    for principal, kind in ((IRAN, "delegation"), (IAEA, "inspector")):
        execute(QATAR, "admit_party", {
            "party": principal.name.split("/")[0], "kind": kind, "principal": principal.name,
            "principal_key": new_key(principal),
        })  # fmt: skip


def _record(clock: FakeClock, amount: float, late: timedelta = timedelta(0)) -> dict[str, Any]:
    from backchannel.log.records import format_timestamp

    return {
        "obligation": "iran-enrichment",
        "amount": amount,
        "unit": "kg",
        "observed_at": format_timestamp(clock.now() - late),
        "source": None,
    }


@pytest.mark.parametrize("seed", range(4))
def test_replaying_a_random_stream_through_the_service_gives_the_same_history(seed: int) -> None:
    """A random stream through the service, with reviews at random moments; then replayed from the log."""
    rng = random.Random(seed)
    clock = FakeClock()
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    reviews = ObligationService(tracks, NODE, clock=clock)
    execute = _executor(tracks, clock)
    _open(execute)
    terms = {**TERMS, "shared_with": [], "hold_seconds": 3 * DAY, "recovery_pct": rng.choice([0, 50, 100])}
    execute(QATAR, "define_obligation", terms)
    state = tracks.state(TRACK)
    assert state is not None
    spec = state.obligations["iran-enrichment"].spec
    bucket = start(spec, instant_us(clock.now()))
    expected = []
    for _ in range(60):
        clock.advance(timedelta(seconds=rng.choice([0, 60, 3600, DAY, 5 * DAY])))
        if rng.random() < 0.3:
            reviews.tick(TRACK)
        amount = rng.choice([0, 0.5, 1, 3, 25])
        execute(IAEA, "record_consumption", _record(clock, amount))
        bucket, downs, metered = meter(spec, bucket, instant_us(clock.now()), int(amount * MICRO))
        expected += [("down", d.at) for d in downs]
        if metered.level > metered.from_level:
            expected.append(("up", metered.at))
    live = tracks.state(TRACK)
    assert live is not None
    history = [
        ("up" if s.to_level > s.from_level else "down", instant_us(s.effective_at))
        for s in live.obligations["iran-enrichment"].steps
    ]
    assert history == expected  # reviews only made the steps visible sooner
    assert replay(store, TRACK).obligations == live.obligations
    view = obligation_view(live, "iran/principal", "iran-enrichment", clock.now())
    assert len(view["history"]) == len(expected)  # type: ignore[arg-type]


def test_the_cli_defines_records_shows_and_draws_the_timeline(
    live_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's shape: a short period and hold, so the step down comes within a few seconds."""
    server = live_server
    monkeypatch.setattr(cli_out, "width", 220)  # wide tables, whatever terminal runs the tests
    open_track(server)
    keys = {}
    for pair_ in (QATAR, IAEA, IRAN):
        path = tmp_path / (pair_.name.replace("/", "-") + ".key")
        write_key_file(path, pair_)
        keys[pair_.name] = path
    terms = tmp_path / "obligation.json"
    # 20 kg per second, burst 20 kg: a 30 kg burst leaves a 10 kg debt, back at 10 kg in 1 s; hold 4 s
    terms.write_text(json.dumps({**TERMS, "rate": 20, "period_seconds": 1, "hold_seconds": 4}))
    runner = CliRunner()

    def cli(key: str, *args: str, code: int = 0) -> str:
        argv = [*args, "--server", server.url, "--key", str(keys[key]), "--track", TRACK]
        result = runner.invoke(cli_app, argv, env={"COLUMNS": "220"}, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    assert "obligation iran-enrichment defined at index" in cli(
        "qatar/principal", "obligation", "define", str(terms)
    )
    out = cli("iaea/principal", "obligation", "record", "iran-enrichment", "--amount", "30", "--unit", "kg",
              "--source", "iaea-report-7")  # fmt: skip
    assert "OVERDRAW" in out
    assert "level 1 (sanctions-tier-1)" in out
    assert "escalated 0 -> 1 (sanctions-tier-1)" in out
    refused = cli(
        "iaea/principal", "obligation", "record", "iran-enrichment", "--amount", "1", "--unit", "t", code=1
    )
    assert "unit" in refused
    shown = cli("iran/principal", "obligation", "show", "iran-enrichment")
    for text in ("20 kg per 1 s", "none -> sanctions-tier-1", "1 (sanctions-tier-1)", "hold 4 s"):
        assert text in shown, shown
    wait_for(lambda: "down 1 -> 0" in cli("qatar/principal", "obligation", "timeline", "iran-enrichment"))
    timeline = cli("qatar/principal", "obligation", "timeline", "iran-enrichment")
    for text in ("defined", "up 0 -> 1", "1 sanctions-tier-1", "source iaea-report-7", "down 1 -> 0",
                 "within limits for 4.0 s", "now", "0 none", "next step down: -"):  # fmt: skip
        assert text in timeline, timeline
    missing = tmp_path / "missing.json"
    assert "cannot read the terms" in cli("qatar/principal", "obligation", "define", str(missing), code=1)
    terms.write_text("[1]")
    assert "expected a JSON object" in cli("qatar/principal", "obligation", "define", str(terms), code=1)
