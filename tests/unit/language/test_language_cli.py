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
    assert doc["lexicon"]["name"].startswith("lexicon.toml ")
    assert doc["lexicon"]["notes"] == []


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


ISSUES = '{"cap": [0, 90], "relief": ["none", "partial", "full"]}'


def test_risk_json_carries_its_inputs() -> None:
    result = runner.invoke(
        language_app,
        [
            "risk",
            "This is our final offer: a cap of 3.67%.",
            "--proposal",
            '{"cap": 3.67, "relief": "partial"}',
            "--position",
            '{"cap": 20, "relief": "full"}',
            "--issues",
            ISSUES,
            "--history=-2,-4,-5.8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert 0.5 < doc["probability"] < 1.0
    assert doc["inputs"]["goldstein"] == -7.0
    assert doc["inputs"]["per_issue"] == {"cap": 0.1814, "relief": 0.5}  # (20 - 3.67) / 90
    assert doc["calibration"]["n_test"] == 6000


def test_risk_rich_and_calibrate() -> None:
    result = runner.invoke(
        language_app,
        [
            "risk",
            "We propose a cap.",
            "--proposal",
            '{"cap": 5}',
            "--position",
            '{"cap": 5}',
            "--issues",
            ISSUES,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rejection risk" in result.output
    assert "Brier" in result.output
    result = runner.invoke(language_app, ["calibrate", "--n", "2000", "--seed", "3", "--json"])
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)["coefficients"]) == {"base", "severity", "distance", "worsening"}
    result = runner.invoke(language_app, ["calibrate", "--n", "2000"])
    assert "ECE" in result.output


def test_risk_bad_input_names_the_option() -> None:
    base = ["risk", "x", "--position", '{"cap": 5}', "--issues", ISSUES]
    result = runner.invoke(language_app, [*base, "--proposal", "{"])
    assert result.exit_code == 1
    assert "--proposal: not JSON" in result.output
    result = runner.invoke(language_app, [*base, "--proposal", "[1]"])
    assert "--proposal: must be a JSON object" in result.output
    result = runner.invoke(
        language_app,
        ["risk", "x", "--proposal", '{"cap": 5}', "--position", '{"cap": 5}', "--issues", '{"cap": 3}'],
    )
    assert "--issues.cap: must be [low, high]" in result.output
    result = runner.invoke(language_app, [*base, "--proposal", '{"cap": 5}', "--history", "a,b"])
    assert "--history: comma-separated" in result.output


def test_check_rich_suggestions_and_drift_states() -> None:
    blocked = runner.invoke(
        language_app,
        ["check", "You must accept the 3.67% cap.", "--reframed", "Please accept the 3.6% cap.", "--lexical"],
    )
    assert blocked.exit_code == 0, blocked.output
    assert "suggested reframings" in blocked.output
    assert "drift: BLOCKED" in blocked.output
    flagged = runner.invoke(
        language_app,
        ["check", "We will lift the sanctions.", "--reframed", "We might lift the sanctions.", "--lexical"],
    )
    assert "drift: flagged" in flagged.output
    assert "commitment flip" in flagged.output
