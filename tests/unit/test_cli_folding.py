"""CLI tables fold long cells at any width instead of cutting them, and --json prints plain JSON."""

import json
from pathlib import Path

import pytest
from rich.table import Table

from backchannel.cli._common import FoldingConsole, print_json

DIGEST = "5714606303676ed39713f31d6c584967f248a6f0f668cce1c78d2f1b9619f149"


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_a_wide_table_never_hides_a_cell(width: int) -> None:
    console = FoldingConsole(width=width, record=True)
    table = Table(title="receipts")
    for column in ("party", "message id", "signed by"):
        table.add_column(column, no_wrap=True)
    table.add_row("iran", DIGEST, "iran/principal")
    console.print(table)
    text = console.export_text()
    assert "…" not in text
    cells = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells) == DIGEST


def test_print_json_is_one_parseable_document(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"proofs": [{"verified": True, "party": "iran"}], "when": "2026-12-06T18:00:00Z"})
    assert json.loads(capsys.readouterr().out) == {
        "proofs": [{"verified": True, "party": "iran"}],
        "when": "2026-12-06T18:00:00Z",
    }


def test_keys_show_and_track_list_print_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from backchannel.cli.main import app

    runner = CliRunner()
    key = tmp_path / "a.key"
    assert runner.invoke(app, ["keys", "new", "usa/alice", "--out", str(key)]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["keys", "show", str(key), "--json"]).output)
    assert shown["name"] == "usa/alice"
    assert shown["ed25519_key_id"].startswith("ed25519:")
    assert "private" not in json.dumps(shown)
    data = tmp_path / "data"
    assert runner.invoke(app, ["track", "new", "demo", "-d", str(data)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["track", "list", "-d", str(data), "--json"]).output)
    assert [(t["track"], t["size"], t["origin"]) for t in listed] == [("demo", 0, "backchannel.local/demo")]
