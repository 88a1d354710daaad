"""A small Doha-like deployment for the console's tests, screenshots and benchmark (ADR-0046).

:func:`serving` runs the real app on a free ``127.0.0.1`` port over a SQLite
store (with its lifespan ticker, so deadlines and presence move on their
own); :func:`doha` opens ``us-iran-nuclear`` with qatar mediating usa and
iran, a deal preparing with one vote pending and a deadline, an escrow half
signed, an inspector and a metric; :func:`deadlock` opens the ceasefire track
and qatar's coordination log and closes a cycle across the two tracks
(the story of issue #12). Everything goes through the SDK over HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from backchannel.api import create_app
from backchannel.broker import DeliveryPolicy
from backchannel.clock import SystemClock
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.protocol.console_token import make_signin_token
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, deal_hash
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA, new_key_json, seeded_keys

__all__ = [
    "CEASEFIRE",
    "COORD",
    "IAEA",
    "IRAN",
    "IRAN_TRACK",
    "LOG_KEY",
    "NODE",
    "QATAR",
    "USA",
    "World",
    "client",
    "deadlock",
    "doha",
    "open_track",
    "serving",
    "sign_in",
]

IRAN_TRACK = "us-iran-nuclear"
CEASEFIRE = "israel-hezbollah-ceasefire"
COORD = "coord-qatar"
PERSON = "person:usa/principal"
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
IAEA = seeded_keys(6, "iaea/principal")
LOG_KEY = SigningKey.from_seed(b"\x0a" * 32)
DEAL: dict[str, JSONValue] = {
    "id": "sanctions-relief-1",
    "title": "Phased sanctions relief",
    "phases": [[{"party": "usa", "action": "release frozen assets", "issue": None,
                 "quantity": {"value": 6, "unit": "bn USD"}, "conditions": []},
                {"party": "iran", "action": "cap enrichment", "issue": None,
                 "quantity": {"value": 3.67, "unit": "%"}, "conditions": []}]],
}  # fmt: skip
CEASEFIRE_DEAL: dict[str, JSONValue] = {
    "id": "ceasefire-1",
    "title": "Ceasefire monitoring",
    "phases": [[{"party": "usa", "action": "fund the monitoring mission", "issue": None,
                 "quantity": {"value": 1, "unit": "mission"}, "conditions": []}]],
}  # fmt: skip


@dataclass
class World:
    """A served deployment: its URL, store and track service."""

    url: str
    store: SQLiteEventStore
    tracks: TrackService


def client(url: str, keys: KeyPair) -> BackchannelClient:
    """A member's SDK client of ``url`` (real clock, no pinned log key)."""
    return BackchannelClient(url, keys.name, keys, pinned_log_key=None)


@contextlib.contextmanager
def serving(data: Path, *, heartbeat_window: float = 90.0) -> Iterator[World]:
    """The real app over a SQLite store in ``data``, served on 127.0.0.1 with its ticker."""
    clock = SystemClock()
    store = SQLiteEventStore(data / "db.sqlite3")
    tracks = TrackService(LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock), NODE, clock=clock)
    policy = DeliveryPolicy(heartbeat_window=timedelta(seconds=heartbeat_window))
    delivery = DeliveryService(tracks, NODE, policy, clock=clock)

    def make(url: str) -> object:
        return create_app(tracks, public_origin=url, clock=clock, delivery=delivery, tick_interval=0.5)

    try:
        with running(make, lifespan=True) as url:  # type: ignore[arg-type]
            yield World(url, store, tracks)
    finally:
        store.close()


def open_track(url: str, track: str, title: str, delegations: tuple[KeyPair, ...], *, agenda: bool) -> None:
    """Qatar opens ``track`` and admits each delegation; with ``agenda``, proposes and ratifies one."""
    with client(url, QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        body: dict[str, JSONValue] = {
            "title": title,
            "principal_key": new_key_json(QATAR),
            "service_key": {**service_key, "expires_at": None},
        }
        qatar.execute("open_track", body, track=track)
        for principal in delegations:
            admit: dict[str, JSONValue] = {
                "party": principal.name.partition("/")[0],
                "kind": "delegation",
                "principal": principal.name,
                "principal_key": new_key_json(principal),
            }
            qatar.execute("admit_party", admit, track=track)
        if agenda:
            qatar.execute("propose_agenda", {"agenda": SMALL_AGENDA.to_dict()}, track=track)
    if agenda:
        for principal in delegations:
            with client(url, principal) as c:
                ratify: dict[str, JSONValue] = {
                    "version": 1,
                    "agenda_digest": agenda_digest(SMALL_AGENDA).hex(),
                }
                c.execute("ratify_agenda", ratify, track=track)


def doha(url: str) -> None:
    """The Iran track: a deal preparing (usa voted, iran pending), an escrow with 1 of 2 signatures."""
    open_track(url, IRAN_TRACK, "US-Iran nuclear talks (Doha)", (USA, IRAN), agenda=True)
    with client(url, QATAR) as qatar, client(url, USA) as usa:
        qatar.deals.prepare(IRAN_TRACK, DEAL, datetime.now(UTC) + timedelta(minutes=30))
        usa.deals.vote(IRAN_TRACK, str(DEAL["id"]), vote=True, deal_hash=deal_hash(DEAL))
        admit: dict[str, JSONValue] = {
            "party": "iaea", "kind": "inspector", "principal": IAEA.name, "principal_key": new_key_json(IAEA),
        }  # fmt: skip
        qatar.execute("admit_party", admit, track=IRAN_TRACK)
        qatar.attestations.define_metric(
            IRAN_TRACK, "iaea.enrichment_pct", unit="%", inspectors=["iaea"], quorum=1, tolerance=0.1
        )
        terms: dict[str, JSONValue] = {
            "escrow_id": "frozen-assets",
            "items": [{"what": "frozen assets", "amount": 6_000_000_000, "unit": "USD",
                       "owner": "usa", "beneficiary": "iran"}],
            "signers": ["usa", "qatar"], "threshold": 2,
            "predicates": ["iaea.enrichment_pct <= 3.67 sustained for 30 days"],
            "expires_at": format_timestamp(datetime.now(UTC) + timedelta(days=180)),
        }  # fmt: skip
        qatar.escrow.open(IRAN_TRACK, terms)
        usa.escrow.sign_release(IRAN_TRACK, "frozen-assets")


def deadlock(url: str) -> None:
    """The ceasefire track and qatar's coordination log; a cycle closes across the two tracks.

    The Iran track waits on the ceasefire deal; usa's principal (attention
    budget 1) is booked by the Iran session; the ceasefire meeting, queued for
    that person, waits on the Iran track: a deadlock.
    """
    open_track(url, CEASEFIRE, "Israel-Hezbollah ceasefire", (USA, IRAN), agenda=False)
    open_track(url, COORD, "qatar's coordination log", (), agenda=False)
    with client(url, QATAR) as qatar:
        coord = qatar.coordination
        coord.declare_dependency(
            COORD, "iran-needs-ceasefire", waiter=IRAN_TRACK, on_track=CEASEFIRE, kind="deal_committed",
            ref=str(CEASEFIRE_DEAL["id"]),
        )  # fmt: skip
        coord.register_resource(COORD, PERSON, "person", capacity=1)
        at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
        coord.book(COORD, "iran-session", resource=PERSON, holder=IRAN_TRACK, start=at,
                   end=at + timedelta(hours=3), priority=2)  # fmt: skip
        coord.book(COORD, "ceasefire-meeting", resource=PERSON, holder=CEASEFIRE, priority=5, queue=True,
                   start=at + timedelta(hours=1), end=at + timedelta(hours=2))  # fmt: skip


def sign_in(url: str, track: str, keys: KeyPair = QATAR, *, origin: str | None = None) -> httpx.Cookies:
    """Follow a fresh one-time sign-in link of ``keys`` for ``track``; return the session cookie.

    ``origin`` is the origin the link is signed for (default: ``url``, the server's own).
    """
    token = make_signin_token(
        origin=origin or url, track=track, member=keys.name, key=keys.signing, now=datetime.now(UTC)
    )
    response = httpx.get(f"{url}/console/signin", params={"token": token}, follow_redirects=False)
    if response.status_code != 303:
        msg = f"sign-in refused: {response.status_code} {response.text}"
        raise AssertionError(msg)
    return response.cookies
