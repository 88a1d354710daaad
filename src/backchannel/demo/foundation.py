"""The foundation demo: a signed, verifiable log on the embedded SQLite store.

Plays a short, scripted opening of the Doha track: the mediator and both
delegations register keys, exchange signed statements and proposals (as raw
log events; the negotiation rules arrive with the live channel), the log is
exported, verified offline against the pinned log key, an inclusion proof and a
consistency proof are checked, and a tampered copy of the export is refused
with the bad index named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from backchannel.cli import render
from backchannel.errors import VerificationError
from backchannel.log import merkle
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteVerifier
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.service.config import Settings, open_log
from backchannel.service.export import export_track, verify_export
from backchannel.service.log import Draft

__all__ = ["run_demo"]

TRACK = "us-iran-nuclear"
MEMBERS = ("qatar/mediator", "usa/principal", "iran/principal")

SCRIPT: tuple[tuple[tuple[str, str, dict[str, JSONValue]], ...], ...] = (
    (
        ("qatar/mediator", "track.opened", {"title": "US-Iran nuclear talks", "venue": "Doha"}),
        (
            "qatar/mediator",
            "statement.made",
            {"text": "Both delegations are present; proposals go through us."},
        ),
    ),
    (
        ("usa/principal", "proposal.submitted", {"enrichment_cap_pct": 3.67, "sanctions_relief": "none"}),
        ("iran/principal", "proposal.submitted", {"enrichment_cap_pct": 20, "sanctions_relief": "full"}),
    ),
    (
        ("qatar/mediator", "statement.made", {"text": "Bridging proposal: cap 5%, partial relief."}),
        ("usa/principal", "statement.made", {"text": "We can discuss partial relief against verification."}),
        ("iran/principal", "statement.made", {"text": "Partial relief must be front-loaded."}),
    ),
)


def _draft(keys: dict[str, KeyPair], author: str, kind: str, body: dict[str, JSONValue]) -> Draft:
    return Draft(kind, author, body, keys[author].signing)


def _registration(pair: KeyPair) -> Draft:
    body: dict[str, JSONValue] = {
        "member": pair.name,
        "ed25519": pair.signing.verifying_key.to_text(),
        "x25519": pair.agreement.to_text(),
    }
    return Draft(KEY_REGISTERED, pair.name, body, pair.signing)


def run_demo(console: Console, data_dir: Path, *, fresh: bool = True) -> None:
    """Run the demo in ``data_dir`` and print what it shows.

    Raises:
        BackchannelError: any step failed (the demo's own checks included).
    """
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    settings = Settings.embedded(data_dir / "node")
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = {name: KeyPair.generate(name) for name in MEMBERS}
    for name, pair in keys.items():
        write_key_file(keys_dir / (name.replace("/", "-") + ".key"), pair, overwrite=True)

    console.print(Rule(f"backchannel demo: track {TRACK}"))
    with open_log(settings) as node:
        node.writer.open_track(TRACK)
        log_key = node.writer.log_key
        console.print(f"data directory: {settings.data_dir}")
        console.print(f"log key: {log_key}", soft_wrap=True, markup=False)
        result = node.writer.append(TRACK, [_registration(pair) for pair in keys.values()])
        console.print(f"batch 1: registered {len(result.entries)} member keys")
        first_checkpoint = result.checkpoint
        for number, batch in enumerate(SCRIPT, start=2):
            result = node.writer.append(TRACK, [_draft(keys, *item) for item in batch])
            console.print(f"batch {number}: {', '.join(e.signed.event.type for e in result.entries)}")
        export = data_dir / f"{TRACK}.jsonl"
        export_track(node.store, TRACK, export)
        size = node.store.size(TRACK)
        leaf = node.store.get_nodes(TRACK, [(0, 3)])[0]
        inclusion = node.store.inclusion_proof(TRACK, 3, size)
        consistency = node.store.consistency_proof(TRACK, first_checkpoint.checkpoint.size, size)
        latest = node.store.latest_checkpoint(TRACK)
    assert latest is not None
    console.print(f"exported {size} entries to {export}")

    console.print(Rule("offline verification (log key pinned)"))
    render.print_verification(console, verify_export(export, log_key))

    verifier = NoteVerifier.from_vkey(log_key)
    new = verifier.verify(latest)
    old = verifier.verify(first_checkpoint)
    merkle.verify_inclusion(leaf, 3, new.size, inclusion, new.root)
    merkle.verify_consistency(old.size, new.size, old.root, new.root, consistency)
    console.print(
        f"inclusion proof of entry 3 in the tree of {new.size}: [green]verified[/] ({len(inclusion)} hashes)"
    )
    console.print(
        f"consistency proof {old.size} -> {new.size} between signed checkpoints: "
        f"[green]verified[/] ({len(consistency)} hashes)"
    )

    console.print(Rule("tamper check"))
    tampered = data_dir / f"{TRACK}.tampered.jsonl"
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if "Bridging proposal: cap 5%" in line)
    lines[target] = lines[target].replace("Bridging proposal: cap 5%", "Bridging proposal: cap 9%")
    tampered.write_text("".join(lines), encoding="utf-8")
    try:
        verify_export(tampered, log_key)
    except VerificationError as e:
        console.print(
            f"a copy with one changed character is refused: [red]{e}[/] (first bad index {e.index})"
        )
    else:
        raise VerificationError("the tampered export verified: the demo's own check failed")
    render.print_checkpoint(console, latest)
