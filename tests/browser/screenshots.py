"""Take the console's screenshots for docs/console.md with the browser tests' Chromium setup.

Run: ``.venv/bin/python tests/browser/screenshots.py`` (writes ``docs/img/console-*.png``).

1. a small world (``backchannel.testing.console_world``) forms a deadlock
   across two tracks: the overview and the coordination graph are taken, and
   usa's own view of the Iran track;
2. ``backchannel demo --serve`` plays the Doha talks; the Iran track is taken
   through the link it prints;
3. the demo server is stopped: the link banner is taken while reconnecting.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from backchannel.testing.console_world import COORD, IRAN_TRACK, QATAR, USA, client, deadlock, doha, serving

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "img"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
BACKCHANNEL = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(600)
    page.screenshot(path=str(OUT / f"console-{name}.png"), full_page=True)
    print(f"wrote docs/img/console-{name}.png")


def demo_link(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+/console/signin\?token=\S+)", line)
        if found:
            return found.group(1)
        if time.monotonic() > deadline:
            break
    raise RuntimeError("the demo printed no console link")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COLUMNS": "400"}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        with serving(Path(tmp), heartbeat_window=30) as world:
            doha(world.url)
            deadlock(world.url)
            with client(world.url, USA) as usa:
                usa.inbox.heartbeat(IRAN_TRACK)
            with client(world.url, QATAR) as qatar:
                page.goto(qatar.console_link(IRAN_TRACK))
            page.locator("#link.live").wait_for()
            shot(page, "overview")
            page.goto(f"{world.url}/console/tracks/{COORD}")
            page.locator("#link.live").wait_for()
            shot(page, "deadlock")
            party = browser.new_page(viewport={"width": 1280, "height": 900})
            with client(world.url, USA) as usa:
                party.goto(usa.console_link(IRAN_TRACK))
            party.goto(f"{world.url}/console/tracks/{IRAN_TRACK}")
            party.locator("#link.live").wait_for()
            shot(party, "party")
            party.close()
        demo = subprocess.Popen(
            [*BACKCHANNEL, "demo", "--data-dir", str(Path(tmp) / "demo"), "--serve"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            page.goto(demo_link(demo))
            page.goto(page.url.rstrip("/") + f"/tracks/{IRAN_TRACK}")
            page.locator("#link.live").wait_for()
            shot(page, "track")
        finally:
            demo.send_signal(2)
            demo.wait(timeout=30)
        page.locator("#link.reconnecting").wait_for(timeout=20_000)
        page.wait_for_timeout(2500)
        page.screenshot(
            path=str(OUT / "console-reconnecting.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 260}
        )
        print("wrote docs/img/console-reconnecting.png")
        browser.close()


if __name__ == "__main__":
    main()
