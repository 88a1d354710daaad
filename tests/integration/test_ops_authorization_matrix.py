"""The authorization matrix for the admin reads (issue #12 item 10): ``GET /v1/tracks`` and the event search.

The world is the read matrix's own (:func:`test_authorization_matrix.build_read_world`):
track ``doha`` with a mediator, two delegations, a witness and an inspector, and
a second track ``oslo`` with a secret of its own. For every member, the track
listing names exactly the tracks its key is enrolled in, and for every member,
track and filter the search returns exactly the entries the plain read would
show it that match the filter (an oracle written here, from the stored
entries and ``visible_to``), and no secret of any other entry.
"""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from test_authorization_matrix import (
    MEMBERS,
    OMAN,
    OSLO_USA,
    OTHER,
    TRACK,
    World,
    assert_no_leak,
    build_read_world,
    check_each_entry,
    problem_slug,
    reader_of,
    visible_indexes,
)

from backchannel.protocol.keyfile import KeyPair


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_read_world(tmp_path_factory.mktemp("ops-matrix") / "db.sqlite3")
    yield w
    w.close()


KEYS: dict[str, KeyPair] = {**MEMBERS, "oman/principal": OMAN, "oslo:usa/principal": OSLO_USA}
# (track, member id there, party kind, role) each key is listed with
LISTED: dict[str, list[tuple[str, str, str, str]]] = {
    "qatar/principal": [(TRACK, "qatar/principal", "mediator", "principal")],
    "qatar/service": [
        (TRACK, "qatar/service", "mediator", "service"),
        (OTHER, "oman/service", "mediator", "service"),
    ],
    "usa/principal": [(TRACK, "usa/principal", "delegation", "principal")],
    "usa/delegate": [(TRACK, "usa/delegate", "delegation", "delegate")],
    "usa/observer": [(TRACK, "usa/observer", "delegation", "observer")],
    "iran/principal": [(TRACK, "iran/principal", "delegation", "principal")],
    "iran/delegate": [(TRACK, "iran/delegate", "delegation", "delegate")],
    "guarantor/principal": [(TRACK, "guarantor/principal", "witness", "principal")],
    "iaea/principal": [(TRACK, "iaea/principal", "inspector", "principal")],
    "oman/principal": [(OTHER, "oman/principal", "mediator", "principal")],
    "oslo:usa/principal": [(OTHER, "usa/principal", "delegation", "principal")],
}


def test_the_listing_covers_every_key() -> None:
    assert set(LISTED) == set(KEYS)


@pytest.mark.parametrize("who", list(KEYS))
def test_tracks_matrix(world: World, who: str) -> None:
    response = world.request(KEYS[who], "GET", "/v1/tracks")
    assert response.status_code == 200, response.text
    tracks = response.json()["tracks"]
    got = [(t["track"], t["member"], t["party_kind"], t["role"]) for t in tracks]
    assert got == LISTED[who]
    for t in tracks:
        assert t["size"] == world.store.size(t["track"])
    assert_no_leak(world, None, TRACK, response.text)  # titles and sizes only: no salt, body or message id


def test_a_stranger_gets_401_from_the_listing(world: World) -> None:
    from backchannel.testing.world import seeded_keys

    response = world.request(seeded_keys(99, "nobody/principal"), "GET", "/v1/tracks")
    assert response.status_code == 401
    assert problem_slug(response) == "unauthenticated"


def _signer(entry: Any) -> str:
    body = entry.signed.event.body
    command = body.get("command") if isinstance(body, dict) else None
    if isinstance(command, dict):
        return str(command["payload"]["member"])
    return str(entry.signed.event.author)


def filters(w: World) -> dict[str, dict[str, Any]]:
    """Named searches; ``since`` / ``until`` split the log at the forward ``F``."""
    middle = w.store.read(TRACK, w.labels["F"], w.labels["F"] + 1)
    at = next(iter(middle)).decode().signed.event.created_at
    return {
        "submitted": {"type": ["message.submitted"]},
        "relayed": {"type": ["message.forwarded", "message.reframed"]},
        "receipts": {"type": ["receipt.recorded"]},
        "comments": {"type": ["text.commented"]},
        "by-usa": {"member": "usa/principal"},
        "by-usa-delegate": {"member": "usa/delegate"},
        "by-iran": {"member": "iran/principal"},
        "by-qatar": {"member": "qatar/principal"},
        "usa-submitted": {"type": ["message.submitted"], "member": "usa/principal"},
        "since-F": {"since": at},
        "until-F": {"until": at},
    }


FILTERS = (
    "submitted", "relayed", "receipts", "comments", "by-usa", "by-usa-delegate", "by-iran", "by-qatar",
    "usa-submitted", "since-F", "until-F",
)  # fmt: skip


def oracle(w: World, member: str, track: str, search: dict[str, Any]) -> set[int]:
    """The indexes the plain read shows ``member`` that match ``search``."""
    allowed = visible_indexes(w, member, track)
    found: set[int] = set()
    for stored in w.store.read(track, 0, w.store.size(track)):
        entry = stored.decode()
        event = entry.signed.event
        if stored.seq not in allowed:
            continue
        if "type" in search and event.type not in search["type"]:
            continue
        if "member" in search and _signer(entry) != search["member"]:
            continue
        if "since" in search and event.created_at < search["since"]:
            continue
        if "until" in search and event.created_at >= search["until"]:
            continue
        found.add(stored.seq)
    return found


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("member", list(MEMBERS))
def test_search_matrix(world: World, member: str, name: str, track: str) -> None:
    search = filters(world)[name]
    query = urlencode({**search, "limit": 1000}, doseq=True)
    response = world.request(MEMBERS[member], "GET", f"/v1/tracks/{track}/events?{query}")
    reader = reader_of(member, track)
    if reader is None:
        assert response.status_code == 401, response.text
        assert problem_slug(response) == "unauthenticated"
        assert_no_leak(world, None, track, response.text)
        return
    assert response.status_code == 200, response.text
    assert_no_leak(world, reader, track, response.text)
    entries = response.json()["entries"]
    check_each_entry(world, reader, track, entries)
    assert {e["index"] for e in entries} == oracle(world, reader, track, search)


def test_the_searches_are_not_trivial(world: World) -> None:
    """Each search finds something for the mediator and hides something from a delegation."""
    for name in FILTERS:
        search = filters(world)[name]
        mediator = oracle(world, "qatar/principal", TRACK, search)
        assert mediator, name
    assert oracle(world, "iran/principal", TRACK, {"member": "usa/principal"}) < oracle(
        world, "qatar/principal", TRACK, {"member": "usa/principal"}
    )
