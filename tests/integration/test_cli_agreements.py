"""`backchannel text ...`, `witness run | vkey` and `checkpoint show` against a real `backchannel serve`."""

import re
from pathlib import Path

from test_cli_live import Cli, keyfile, serving
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.log.cosignature import CosignatureSigner
from backchannel.protocol.keyfile import read_key_file


def flat(output: str) -> str:
    """The output as one line: panel borders dropped, wrapped lines joined (the terminal width varies)."""
    return " ".join(output.replace("\u2502", " ").split())


V1 = "Article 1. Iran caps enrichment at 3.67%.\nArticle 2. Sanctions relief, tier 1.\n"
V2 = V1.replace("3.67%.", "3.67% for 15 years.")
V3 = V2 + "Article 3. IAEA continuous monitoring.\n"


def test_the_text_and_witness_commands(tmp_path: Path) -> None:
    with serving(tmp_path / "server") as url:
        cli = Cli(url)
        qatar, usa, iran = (keyfile(tmp_path, f"{p}/principal") for p in ("qatar", "usa", "iran"))
        norway, chile = keyfile(tmp_path, "norway/principal"), keyfile(tmp_path, "chile/principal")
        cli(qatar, "track", "open", "doha-cli", "--title", "Doha")
        for party, principal in (("usa", usa), ("iran", iran)):
            cli(qatar, "party", "admit", party, "--principal-key", principal)
        cli(qatar, "party", "admit", "norway", "--principal-key", norway, "--kind", "witness")
        files = {}
        for name, body in (("v1", V1), ("v2", V2), ("v3", V3)):
            files[name] = tmp_path / f"{name}.txt"
            files[name].write_text(body)

        # the negotiating text
        assert "framework: version 1 drafted" in cli(
            qatar, "text", "draft", files["v1"], "--doc", "framework"
        )
        refused = cli(usa, "text", "edit", files["v2"], "--doc", "framework", "--base", "1", code=1)
        assert "403" in refused
        assert "mediator-only" in flat(refused)
        assert "comment on v1 sent to the mediator" in cli(
            usa, "text", "comment", "framework", "Add a sunset clause."
        )
        cli(qatar, "text", "edit", files["v2"], "--doc", "framework", "--base", "1")
        cli(qatar, "text", "policy", "shared")
        assert "version 3 recorded" in cli(
            usa, "text", "edit", files["v3"], "--doc", "framework", "--base", "2"
        )
        stale = cli(iran, "text", "edit", files["v2"], "--doc", "framework", "--base", "2", code=1)
        assert "409" in stale
        assert "the current version is 3" in flat(stale)
        diff = cli(iran, "text", "diff", "framework", "1", "3")
        assert "+++ framework@v3" in diff
        assert "+Article 3. IAEA continuous monitoring." in diff
        assert "identical" in cli(iran, "text", "diff", "framework", "2", "2")
        shown = cli(iran, "text", "show", "framework", "--version", "1")
        assert "framework v1 of 3" in shown
        assert V1 in shown
        assert "sunset" in cli(qatar, "text", "comments", "framework")  # a table: a cell may wrap
        assert "0 comment(s)" in cli(iran, "text", "comments", "framework")
        listed = cli(usa, "text", "list")
        assert "policy shared" in listed
        assert "v3" in listed

        # a witness: its vkey, one round, and what a client sees
        vkey = CliRunner().invoke(app, ["witness", "vkey", "--key", str(norway)]).output.strip()
        assert vkey == CosignatureSigner("norway/principal", read_key_file(norway).signing).verifier.to_vkey()
        state = tmp_path / "norway-state"
        ran = cli(norway, "witness", "run", "--once", "--state", state)
        assert re.search(r"doha-cli: cosigned checkpoint \d+ \(first\); stored", ran)
        assert (state / "doha-cli.json").exists()
        assert "unchanged" in cli(norway, "witness", "run", "--once", "--state", state)
        shown = cli(usa, "checkpoint", "show", "--witness", vkey)
        assert (
            "trusted: log signature valid; 1 valid cosignature(s) from known witnesses (norway/principal)"
            in shown
        )
        assert "cosignature (known witness)" in shown
        chile_vkey = CosignatureSigner("chile/principal", read_key_file(chile).signing).verifier.to_vkey()
        untrusted = cli(usa, "checkpoint", "show", "--witness", chile_vkey, "--cosigned", "1")
        assert "NOT trusted" in flat(untrusted)
        assert "unknown key" in untrusted
        refused = cli(usa, "witness", "run", "--once", "--state", tmp_path / "usa-state", code=1)
        assert "403" in refused
