"""The console opens no new path to data: member x view, checked against what the API answers the same member.

One world (``backchannel.testing.console_world``): the Iran track (qatar
mediating usa and iran, an inspector iaea, a deal, an escrow), the ceasefire
track and qatar's coordination log with a deadlock across the two tracks.
For every member and every track, the console's page shows a section exactly
when the API would answer that member, and lists exactly the deals and
escrows the API lists; a page of a track the member is not in is the 404 of
a missing track, and no page carries another party's private content.
"""

import re
from collections.abc import Iterator

import httpx
import pytest

from backchannel.protocol.keyfile import KeyPair
from backchannel.sdk import ProblemError
from backchannel.testing.console_world import (
    CEASEFIRE,
    COORD,
    IAEA,
    IRAN,
    IRAN_TRACK,
    QATAR,
    USA,
    World,
    client,
    deadlock,
    doha,
    serving,
)

MEMBERS = {"qatar": QATAR, "usa": USA, "iran": IRAN, "iaea": IAEA}
TRACKS = (IRAN_TRACK, CEASEFIRE, COORD)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving(tmp_path_factory.mktemp("console-authz")) as world:
        doha(world.url)
        deadlock(world.url)
        yield world


def session(world: World, keys: KeyPair) -> httpx.Cookies:
    with client(world.url, keys) as member:
        link = member.console_link(IRAN_TRACK)
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.cookies


def api_tracks(world: World, keys: KeyPair) -> set[str]:
    with client(world.url, keys) as member:
        return {t["track"] for t in member.tracks()}


def answers(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ProblemError as e:
        refused = e.status
    else:
        return True
    assert refused in {403, 404}
    return False


@pytest.mark.parametrize("who", sorted(MEMBERS))
def test_the_overview_lists_exactly_the_tracks_the_api_lists(world: World, who: str) -> None:
    keys = MEMBERS[who]
    page = httpx.get(f"{world.url}/console/", cookies=session(world, keys)).text
    shown = set(re.findall(r'<tr class="track [a-z]+" data-track="([^"]+)"', page))
    assert shown == api_tracks(world, keys)
    with client(world.url, keys) as member:
        mediates_log = COORD in shown and answers(lambda: member.coordination.status(COORD))
    # blocked and deadlocked come from the coordination log: only its mediator's members learn them
    assert ('class="track deadlocked"' in page) == mediates_log
    assert ("waits on" in page) == mediates_log


@pytest.mark.parametrize("track", TRACKS)
@pytest.mark.parametrize("who", sorted(MEMBERS))
def test_a_track_page_shows_what_the_api_answers_and_nothing_else(world: World, who: str, track: str) -> None:
    keys = MEMBERS[who]
    response = httpx.get(f"{world.url}/console/tracks/{track}", cookies=session(world, keys))
    if track not in api_tracks(world, keys):
        assert response.status_code == 404
        assert "no track" in response.text
        return
    assert response.status_code == 200
    page = response.text
    with client(world.url, keys) as member:
        presence = answers(lambda: member.inbox.presence(track))
        coordination = answers(lambda: member.coordination.status(track))
        deals = {d["deal_id"] for d in member.deals.list_all(track)}
        escrows = {e for e in ("frozen-assets",) if answers(lambda e=e: member.escrow.get(track, e))}
    assert ('<tr class="party' in page) == presence
    assert ("the mediator's to see" in page) == (not presence)
    assert ('<section id="coordination"' in page) == (coordination and track == COORD)
    assert set(re.findall(r'data-deal="([^"]+)"', page)) == deals
    assert set(re.findall(r'data-escrow="([^"]+)"', page)) == escrows


@pytest.mark.parametrize("who", ["usa", "iran", "iaea"])
def test_a_party_never_sees_the_coordination_log_or_the_graph(world: World, who: str) -> None:
    cookies = session(world, MEMBERS[who])
    for track in (IRAN_TRACK, CEASEFIRE):
        page = httpx.get(f"{world.url}/console/tracks/{track}", cookies=cookies).text
        assert 'class="graph"' not in page
        assert "person:usa/principal" not in page
        assert COORD not in page


@pytest.mark.parametrize("who", ["usa", "iran", "iaea"])
def test_the_stream_of_a_view_the_member_may_not_read_signs_it_out(world: World, who: str) -> None:
    cookies = session(world, MEMBERS[who])
    with httpx.stream(
        "GET", f"{world.url}/console/stream", params={"view": f"/console/tracks/{COORD}"}, cookies=cookies
    ) as stream:
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert "event: signedout" in lines
    assert "no track" in lines[-1]
