"""The console in real Chromium (issue #12 item 8): sign in, silence, deadlock, restart.

Each test serves the real app on 127.0.0.1 and drives Debian's chromium through
Playwright (``conftest.py``): nothing is mocked, and the page is read as a
person reads it.
"""

import os
import re
import sys
import time
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - requirements-dev.txt pins it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("playwright is not installed (requirements-dev.txt)", allow_module_level=True)

from backchannel.protocol.keyfile import write_key_file
from backchannel.testing.console_world import (
    COORD,
    IRAN_TRACK,
    QATAR,
    USA,
    client,
    deadlock,
    doha,
    open_track,
    serving,
)
from backchannel.testing.server import free_port, serve_process

BACKCHANNEL = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


def sign_in(page: Page, url: str, keys=QATAR, track: str = IRAN_TRACK) -> None:
    with client(url, keys) as member:
        link = member.console_link(track)
    page.goto(link)
    expect(page).to_have_url(f"{url}/console/")
    expect(page.locator("#link")).to_have_class("link live")


def test_sign_in_and_see_the_doha_track(tmp_path: Path, page: Page) -> None:
    with serving(tmp_path) as world:
        doha(world.url)
        sign_in(page, world.url)
        row = page.locator(f'tr.track[data-track="{IRAN_TRACK}"]')
        expect(row).to_contain_text("US-Iran nuclear talks (Doha)")
        expect(row).to_contain_text("qatar (mediator)")
        row.get_by_role("link", name=IRAN_TRACK).click()
        expect(page.locator("h1")).to_have_text("US-Iran nuclear talks (Doha)")
        deal = page.locator('li.deal[data-deal="sanctions-relief-1"]')
        expect(deal).to_contain_text("Phased sanctions relief")
        expect(deal).to_contain_text("1 of 2 votes; pending: iran/principal")
        expect(deal.locator("time.countdown")).to_have_text(re.compile(r"^in (\d+ min|\d+ s)$"))
        expect(page.locator('li.escrow[data-escrow="frozen-assets"]')).to_contain_text("1 of 2 signatures")
        expect(page.locator('tr.party[data-party="usa"]')).to_contain_text("offline")
        expect(page.locator("#link")).to_contain_text("live; last update")
        # the link cannot be used twice: a second browser gets a clear refusal, no session
        with client(world.url, QATAR) as qatar:
            link = qatar.console_link(IRAN_TRACK)
        page.goto(link)
        other = page.context.browser.new_context()
        try:
            again = other.new_page()
            response = again.goto(link)
            assert response is not None
            assert response.status == 401
            expect(again.locator("#problem")).to_contain_text("already used")
        finally:
            other.close()


def test_a_silent_party_shows_as_silent_within_its_heartbeat_window(tmp_path: Path, page: Page) -> None:
    window = 2.0
    with serving(tmp_path, heartbeat_window=window) as world:
        doha(world.url)
        sign_in(page, world.url)
        with client(world.url, USA) as usa:
            usa.inbox.heartbeat(IRAN_TRACK)
            last_heartbeat = time.monotonic()
        page.goto(f"{world.url}/console/tracks/{IRAN_TRACK}")
        usa_row = page.locator('tr.party[data-party="usa"]')
        expect(usa_row).to_have_class("party online")
        # no further heartbeat: the party is silent from last_heartbeat + window, and the page says so
        # within one push interval of that (with slack for a loaded 2-core machine)
        expect(usa_row).to_have_class("party silent", timeout=(window + 10.0) * 1000)
        assert time.monotonic() - last_heartbeat < window + 5.0
        expect(usa_row.locator("td.liveness")).to_contain_text("silent since")
        expect(page.locator('tr.party[data-party="iran"]')).to_contain_text("offline")


def test_a_deadlock_across_two_tracks_is_highlighted(tmp_path: Path, page: Page) -> None:
    with serving(tmp_path) as world:
        doha(world.url)
        sign_in(page, world.url)
        expect(page.locator(f'tr.track[data-track="{IRAN_TRACK}"]')).to_have_class("track ok")
        deadlock(world.url)  # while the page is open: the stream brings it
        iran = page.locator(f'tr.track[data-track="{IRAN_TRACK}"]')
        expect(iran).to_have_class("track deadlocked")
        expect(iran).to_contain_text("us-iran-nuclear waits on israel-hezbollah-ceasefire")
        page.goto(f"{world.url}/console/tracks/{COORD}")
        cycle = page.locator("svg.graph path.edge.cycle")
        expect(cycle).to_have_count(2)
        waiters = sorted(cycle.nth(i).get_attribute("data-waiter") or "" for i in range(2))
        assert waiters == ["israel-hezbollah-ceasefire", "us-iran-nuclear"]
        expect(page.locator("svg.graph g.node.deadlocked")).to_have_count(2)
        expect(page.locator("li.deadlock")).to_contain_text("suggested:")


def test_the_console_reconnects_after_a_server_restart(tmp_path: Path, page: Page) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mediator = tmp_path / "qatar-principal.key"
    write_key_file(mediator, QATAR)
    data = tmp_path / "data"
    argv = [*BACKCHANNEL, "serve", "--data-dir", str(data), "--port", str(port), "--admit-key", str(mediator)]
    with serve_process(argv, url):
        open_track(url, IRAN_TRACK, "US-Iran nuclear talks (Doha)", (USA,), agenda=False)
        sign_in(page, url)
        expect(page.locator(f'tr.track[data-track="{IRAN_TRACK}"]')).to_be_visible()
    link = page.locator("#link")
    expect(link).to_have_class("link reconnecting")
    expect(link).to_contain_text("reconnecting; last update")
    expect(link).to_contain_text("retrying")
    with serve_process(argv, url):
        expect(link).to_have_class("link live", timeout=20_000)
        expect(page.locator(f'tr.track[data-track="{IRAN_TRACK}"]')).to_be_visible()
