"""``backchannel tournament run``: JSON and Rich output, resumption, plots, clear errors."""

import json

from negotiation_agents_data import SCENARIO_FILE
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.cli.tournament import tournament_app


def invoke(target, *args):
    return CliRunner().invoke(target, [str(a) for a in args], catch_exceptions=False)


def test_json_document_and_resumption(tmp_path) -> None:
    args = [
        SCENARIO_FILE,
        "-a",
        "boulware",
        "-a",
        "random",
        "-o",
        "conceder",
        "--profiles",
        2,
        "-n",
        2,
        "--out",
        tmp_path / "r",
        "-w",
        1,
    ]
    first = invoke(tournament_app, "run", *args, "--json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert (doc["total"], doc["played"], doc["skipped"], doc["rows"]) == (16, 16, 0, 16)
    assert [(s["agent"], s["opponent"], s["runs"]) for s in doc["summary"]] == [
        ("boulware", "conceder", 8),
        ("random", "conceder", 8),
    ]
    assert doc["plot"] is None
    again = json.loads(invoke(tournament_app, "run", *args, "--json").stdout)
    assert (again["played"], again["skipped"]) == (0, 16)
    assert again["summary"] == doc["summary"]


def test_registered_in_the_main_app_with_a_rich_summary_and_a_plot(tmp_path) -> None:
    plot = tmp_path / "heat.png"
    result = invoke(
        app,
        "tournament",
        "run",
        SCENARIO_FILE,
        "-a",
        "hardliner",
        "--profiles",
        1,
        "--out",
        tmp_path / "r",
        "--plot",
        plot,
        "-w",
        1,
    )
    assert result.exit_code == 0, result.output
    assert "tournament summary" in result.stdout
    assert "hardliner" in result.stdout
    assert "2 runs played, 0 already done" in result.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_the_summary_covers_only_this_tournament(tmp_path) -> None:
    out = tmp_path / "shared"
    invoke(tournament_app, "run", SCENARIO_FILE, "-a", "linear", "--profiles", 1, "--out", out, "--json")
    doc = json.loads(
        invoke(
            tournament_app, "run", SCENARIO_FILE, "-a", "conceder", "--profiles", 1, "--out", out, "--json"
        ).stdout
    )
    assert [s["agent"] for s in doc["summary"]] == ["conceder"]


def test_errors_are_diagnostics_with_exit_status_1(tmp_path) -> None:
    result = invoke(tournament_app, "run", SCENARIO_FILE, "-a", "nope", "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert "tournament.agents[0]: unknown agent 'nope'" in " ".join(result.stderr.split())
    missing = invoke(
        tournament_app, "run", tmp_path / "missing.json", "-a", "linear", "--out", tmp_path / "r"
    )
    assert missing.exit_code == 1
    assert "cannot read the scenario file" in " ".join(missing.stderr.split())
