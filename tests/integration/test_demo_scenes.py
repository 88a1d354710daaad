"""The live demo's scenes in process: the text scene, the obligation scene and the demo's transcript table.

A real uvicorn server on 127.0.0.1 on the system clock (as the demo runs), its
lifespan ticker on, and the demo's agenda ratified; the scenes run through the
SDK exactly as ``backchannel demo`` plays them, and every check they report
must pass. The transcript table is then rendered from what ``usa`` may read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from backchannel.api import create_app
from backchannel.clock import SystemClock
from backchannel.demo.deals import play_deals
from backchannel.demo.escrow import escrow_scene
from backchannel.demo.live import AGENDA, _ranges
from backchannel.demo.obligations import OBLIGATION, obligation_scene
from backchannel.demo.texts import DOC, V3, text_scene
from backchannel.demo.transcript import summary, transcript
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import new_key_json, seeded_keys

TRACK = "doha-scenes"
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
IAEA = seeded_keys(5, "iaea/principal")
EURATOM = seeded_keys(6, "euratom/principal")
Check = tuple[str, str, bool, str]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    clock = SystemClock()
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    try:
        with running(
            lambda url: create_app(tracks, public_origin=url, clock=clock, tick_interval=0.05), lifespan=True
        ) as address:
            yield address
            replay(store, TRACK)  # the whole log re-decides
    finally:
        store.close()


@pytest.fixture
def clients(url: str) -> Iterator[dict[str, BackchannelClient]]:
    pairs: list[KeyPair] = [QATAR, USA, IRAN, IAEA, EURATOM]
    with contextlib.ExitStack() as stack:
        made = {
            k.name: stack.enter_context(BackchannelClient(url, k.name, k, sleep=lambda _: None))
            for k in pairs
        }
        qatar = made[QATAR.name]
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key_json(QATAR),
            "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for principal in (USA, IRAN):
            admit(qatar, principal, "delegation")
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
        ratify = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
        for principal in (USA, IRAN):
            made[principal.name].execute("ratify_agenda", ratify, track=TRACK)
        yield made


def admit(qatar: BackchannelClient, principal: KeyPair, kind: str) -> None:
    qatar.execute("admit_party", {
        "party": principal.name.split("/")[0], "kind": kind, "principal": principal.name,
        "principal_key": new_key_json(principal),
    }, track=TRACK)  # fmt: skip


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c[2]]


def test_the_text_scene_plays_and_every_check_passes(clients: dict[str, BackchannelClient]) -> None:
    checks: list[Check] = []
    console = Console(record=True, width=200)
    text_scene(console, TRACK, clients, lambda *c: checks.append(c))
    assert len(checks) == 5
    assert not failed(checks), failed(checks)
    shown = console.export_text()
    assert "refused: 409 Stale text version" in shown
    assert "+Article 3. USD 6 billion of frozen assets" in shown
    assert clients[IRAN.name].texts.get(TRACK, DOC)["text"] == V3


def test_the_obligation_scene_is_fed_by_counted_attestations(clients: dict[str, BackchannelClient]) -> None:
    for inspector in (IAEA, EURATOM):  # the escrow scene admits them in the demo
        admit(clients[QATAR.name], inspector, "inspector")
    checks: list[Check] = []
    cosigned: list[int] = []
    console = Console(record=True, width=200)
    view = obligation_scene(
        console, TRACK, clients, lambda *c: checks.append(c), cosign=lambda: cosigned.append(1)
    )
    assert len(checks) == 6
    assert not failed(checks), failed(checks)
    assert cosigned == [1]  # once, between the escalation and usa's inclusion proof
    assert (view["obligation"], view["level"]) == (OBLIGATION, 0)
    assert [s["direction"] for s in view["history"]] == ["up", "down"]
    shown = console.export_text()
    assert "unit: 't' does not match the agenda's 'kg' for stockpile_kg" in shown
    assert "attestation.quorum_reached, obligation.metered, obligation.escalated" in shown
    assert "down 1 -> 0" in shown

    # the demo's transcript: the agreements' events in words, usa's view of them
    entries = clients[USA.name].log.events(TRACK)
    console = Console(record=True, width=200)
    console.print(transcript(entries, "transcript"))
    table = console.export_text()
    for text in (
        "iaea.stockpile_kg (kg) for issue stockpile_kg: quorum 2 of (iaea, euratom), tolerance 0.5",
        "iaea.stockpile_kg 30 kg at fordow, day",
        "iaea.stockpile_kg 30 kg: quorum of (iaea, euratom), day",
        "iran-stockpile: level 0 -> 1 (sanctions-tier-1), overdraw",
        "iran-stockpile: level 1 -> 0 (none), within limits since",
    ):
        assert text in table, table
    kinds = {e["signed"]["event"]["type"] for e in entries}
    assert {"obligation.defined", "obligation.metered", "obligation.deescalated"} <= kinds


def test_the_transcript_groups_attestation_batches_and_names_the_agreements(
    clients: dict[str, BackchannelClient],
) -> None:
    """The deals and escrow scenes as the demo plays them, then usa's transcript of them."""
    checks: list[Check] = []
    quiet = Console(record=True, width=200)
    qatar, usa, iran = clients[QATAR.name], clients[USA.name], clients[IRAN.name]
    play_deals(
        quiet, qatar, [usa, iran], TRACK, check=lambda what, ok, detail: checks.append(("", what, ok, detail))
    )
    escrow_scene(quiet, TRACK, clients, lambda *c: checks.append(c), issue="enrichment_cap_pct")
    assert len(checks) == 12
    assert not failed(checks), failed(checks)

    entries = usa.log.events(TRACK)
    console = Console(record=True, width=200)
    console.print(transcript(entries, "transcript"))
    table = console.export_text()
    assert re.search(r"\d+-\d+ │ attestation\.filed \(12\) +│ iaea/principal", table), table
    assert re.search(r"attestation\.filed \(18\) +│ euratom/principal", table), table
    assert "attestation.quorum_reached (18)" in table
    assert "iaea.enrichment_pct 3.6, 3.62 % at natanz, days" in table
    for text in (
        "doha-phase-1 'Sanctions relief for an enrichment cap': iran cap uranium enrichment 3.67 %",
        "doha-phase-1: YES on hash",
        "doha-phase-1 committed (hash",
        "doha-full-relief: NO on hash",
        "doha-full-relief aborted: iran/principal voted NO on deal doha-full-relief; 2 step(s) void",
        "'next steps agreed': SHA-256(salt || content)",
        ": 'a second round in Muscat on 12 May'",
        "frozen-assets: 6,000,000,000 USD frozen assets usa -> iran; 2 of (usa, qatar) AND iaea.enrichment_pct",
        "frozen-assets: usa signs digest",
        "frozen-assets: releasable: 2 of 2 signatures",
    ):
        assert text in table, text
    opened = next(e for e in entries if e["signed"]["event"]["type"] == "track.opened")
    assert summary(opened) == "title 'Doha'"  # the track's own events as the CLI shows them


def test_indexes_are_shown_as_ranges() -> None:
    assert _ranges([0, 1, 2, 3, 7, 9, 10, 12, 13, 14]) == "0-3, 7, 9, 10, 12-14"
    assert _ranges([]) == ""
