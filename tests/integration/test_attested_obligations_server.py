"""Obligations fed by counted attestations, end to end (ADR-0018's attestation seam; ADR-0017's quorum).

A real uvicorn server on 127.0.0.1 with its lifespan ticker; the SDK for the
mediator ``qatar``, delegations ``usa`` and ``iran``, inspectors ``iaea`` and
``euratom``. The metric ``enriched_kg`` (kg, quorum 2 of iaea + euratom) is
consumption; obligation ``iran-enrichment`` (5 kg per 30 days, burst 20 kg,
hold 14 days, 50% recovery) binds ``iran`` on it. Time is a
:class:`FakeClock` shared with the clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.api import create_app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError
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
METRIC = "enriched_kg"
DAY = timedelta(days=1)
TERMS: dict[str, Any] = {
    "obligation": "iran-enrichment",
    "party": "iran",
    "metric": METRIC,
    "unit": "kg",
    "rate": 5,
    "burst": 20,
    "period_seconds": 30 * 86_400,
    "ladder": ["none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3"],
    "hold_seconds": 14 * 86_400,
    "recovery_pct": 50,
    "shared_with": ["usa"],
}


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock = FakeClock(autojump=timedelta(milliseconds=1))
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


def setup(server: Server) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        admitted = [(USA, "delegation"), (IRAN, "delegation"), (IAEA, "inspector"), (EURATOM, "inspector")]
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
    with server.client(QATAR) as qatar:
        qatar.attestations.define_metric(
            TRACK, METRIC, unit="kg", inspectors=["iaea", "euratom"], quorum=2, tolerance=0.1
        )
        qatar.obligations.define(TRACK, TERMS)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the ticker did not act in time"
        time.sleep(0.02)


def types(result: dict[str, Any]) -> list[str]:
    return [e["type"] for e in result["events"]]


def test_two_inspectors_attest_and_the_ladder_steps_up_then_down(server: Server) -> None:
    setup(server)
    with (
        server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran,
        server.client(IAEA) as iaea, server.client(EURATOM) as euratom,
    ):  # fmt: skip
        server.clock.advance(timedelta(hours=1))
        # within the allowance: metered, no step
        assert types(iaea.attestations.attest(TRACK, METRIC, 3, unit="kg", site="natanz")) == [
            "attestation.filed"
        ]
        quorum = euratom.attestations.attest(TRACK, METRIC, 3.05, unit="kg", site="natanz")
        assert types(quorum) == ["attestation.filed", "attestation.quorum_reached", "obligation.metered"]
        assert quorum["events"][2]["amount"] == "3"
        # a value that is no consumption amount is refused on a metered metric, naming the field
        size = server.store.size(TRACK)
        with pytest.raises(ProblemError) as refused:
            iaea.attestations.attest(TRACK, METRIC, -1, unit="kg", site="fordow")
        assert (refused.value.status, refused.value.problem["violations"][0]["field"]) == (422, "value")
        assert server.store.size(TRACK) == size

        # the next day: 30 kg counted, 17 kg available: an overdraw of 13 kg steps iran up
        server.clock.advance(DAY)
        iaea.attestations.attest(TRACK, METRIC, 30, unit="kg", site="natanz")
        overdraw = euratom.attestations.attest(TRACK, METRIC, 30, unit="kg", site="natanz")
        assert types(overdraw)[2:] == ["obligation.metered", "obligation.escalated"]
        view = iran.obligations.get(TRACK, "iran-enrichment")
        assert (view["level"], view["tier"], view["overdraws"]) == (1, "sanctions-tier-1", 1)
        up = view["history"][-1]
        counted = overdraw["events"][1]["attestations"][0]  # the low median: iaea's, the first of equals
        assert (up["direction"], up["source"]) == ("up", counted)

        # the bound party and the party it is shared with see the metering; so do inspectors
        for client in (usa, iran, iaea):
            seen = [e["signed"]["event"]["type"] for e in client.log.events(TRACK)]
            assert seen.count("obligation.metered") == 2, client
            assert seen.count("obligation.escalated") == 1, client

        # the debt is repaid by the refill; the ticker takes the step down when it is due
        server.clock.advance(200 * DAY)
        wait_for(lambda: qatar.obligations.get(TRACK, "iran-enrichment")["level"] == 0)
        assert qatar.obligations.get(TRACK, "iran-enrichment")["history"][-1]["direction"] == "down"

    # replay re-decides every command (the attestations' metering and the reviews) to the same state
    replayed = replay(server.store, TRACK)
    live = server.tracks.state(TRACK)
    assert live is not None
    assert replayed.obligations == live.obligations
    assert replayed.attestations == live.attestations
