"""``backchannel language check``: one JSON document, Rich by default, clear errors."""

import json
from pathlib import Path

from typer.testing import CliRunner

from backchannel.cli.language import language_app
from backchannel.cli.main import app

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "cameo"
runner = CliRunner()


def test_check_json_document() -> None:
    result = runner.invoke(
        app,
        [
            "language",
            "check",
            "This is an ultimatum: accept the 3.67% cap by Friday or face the consequences.",
            "--json",
            "--reframed",
            "Please accept the 3.6% cap by Friday.",
            "--lexical",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["escalatory"] is True
    assert doc["goldstein"] == -7.0
    assert {"code": "139", "goldstein": -7.0, "match": "ultimatum"}.items() <= doc["codes"][0].items()
    assert doc["suggestions"]
    assert doc["drift"]["blocked"] is True
    assert doc["drift"]["number_differences"]
    assert doc["drift"]["method"].startswith("lexical")


def test_check_calm_text_has_null_weight_when_nothing_is_coded() -> None:
    result = runner.invoke(language_app, ["check", "The weather is pleasant.", "--json"])
    doc = json.loads(result.stdout)
    assert doc == {**doc, "escalatory": False, "goldstein": None, "codes": [], "suggestions": []}


def test_check_rich_output_with_dictionaries() -> None:
    result = runner.invoke(
        language_app,
        [
            "check",
            "We warned them of severe reprisals.",
            "--dictionary",
            str(SHARED / "CAMEO.2.0.txt"),
            "--dictionary",
            str(SHARED / "cameo-codes.icews.csv"),
            "--reframed",
            "We told them.",
            "--lexical",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ESCALATORY" in result.output
    assert "130 Threaten" in result.output
    assert "drift" in result.output


def test_check_rich_ok() -> None:
    result = runner.invoke(
        language_app, ["check", "We are ready to talk.", "--reframed", "We are ready to talk.", "--lexical"]
    )
    assert result.exit_code == 0
    assert "not escalatory" in result.output
    assert "drift: ok" in result.output


def test_bad_input_exits_1_with_a_diagnostic(tmp_path: Path) -> None:
    result = runner.invoke(language_app, ["check", "  "])
    assert result.exit_code == 1
    assert "text: must not be empty" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "1"\nrule = []')
    result = runner.invoke(language_app, ["check", "We reject it.", "--rules", str(bad)])
    assert result.exit_code == 1
    assert "rule: must be a non-empty array" in result.output
