"""``make demo DEMO_ARGS=--serve``: the mediator's console sign-in link (ADR-0047)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from backchannel.demo.stage import TRACK
from backchannel.protocol.console_token import MAX_LIFETIME
from backchannel.protocol.keyfile import read_key_file
from backchannel.sdk import BackchannelClient

__all__ = ["print_console_link"]


def print_console_link(console: Console, url: str, key_dir: Path) -> None:
    """The mediator's one-time console sign-in link, and the command that makes another (ADR-0047)."""
    key = key_dir / "qatar-principal.key"
    with BackchannelClient(url, "qatar/principal", read_key_file(key)) as qatar:
        link = qatar.console_link(TRACK, MAX_LIFETIME)
    console.print(f"console: open within {int(MAX_LIFETIME.total_seconds())} s (once):", markup=False)
    console.print(link, markup=False, soft_wrap=True)
    console.print(
        f"a new link: backchannel console --server {url} --key {key} --track {TRACK}",
        markup=False,
        soft_wrap=True,
    )
