"""``backchannel rehearse``: run, sweep and list; JSON documents, Rich tables, clear errors."""

import json

from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.sim import sweep

runner = CliRunner()


def test_run_prints_one_json_document_and_is_reproducible():
    first = runner.invoke(app, ["rehearse", "run", "doha-shuttle", "--seed", "4", "--json"])
    again = runner.invoke(app, ["rehearse", "run", "doha-shuttle", "--seed", "4", "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["violations"] == []
    assert doc["seed"] == 4
    assert len(doc["root"]) == 64
    assert doc == json.loads(again.stdout)


def test_run_on_sqlite_matches_the_memory_run():
    memory = runner.invoke(app, ["rehearse", "run", "key-compromise", "--seed", "2", "--json"])
    sqlite = runner.invoke(app, ["rehearse", "run", "key-compromise", "--seed", "2", "--sqlite", "--json"])
    assert sqlite.exit_code == 0, sqlite.output
    assert json.loads(sqlite.stdout)["root"] == json.loads(memory.stdout)["root"]


def test_run_prints_a_summary_by_default():
    result = runner.invoke(app, ["rehearse", "run", "mediator-crash-mid-2pc", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "all hold" in result.stdout
    assert "crash at command 10" in result.stdout


def test_sweep_reports_violations_and_latency_distributions():
    result = runner.invoke(app, ["rehearse", "sweep", "doha-shuttle", "--seeds", "6", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["seeds"] == 6
    assert doc["violations"] == 0
    assert set(doc["ack_latency_seconds"]) == {"flash", "routine"}
    assert doc["ack_latency_seconds"]["flash"]["count"] == 6
    summary = runner.invoke(app, ["rehearse", "sweep", "doha-shuttle", "--seeds", "3", "--first", "10"])
    assert summary.exit_code == 0, summary.output
    assert "invariant violations: 0" in summary.stdout


def test_a_sweep_on_two_workers_matches_one_worker():
    from backchannel.api import create_app

    one = sweep("mediator-crash-mid-2pc", 4, create_app)
    two = sweep("mediator-crash-mid-2pc", 4, create_app, workers=2)
    assert one.to_dict() == two.to_dict()


def test_list_names_the_built_ins():
    result = runner.invoke(app, ["rehearse", "list", "--json"])
    assert result.exit_code == 0
    assert [s["name"] for s in json.loads(result.stdout)] == [
        "doha-shuttle",
        "vance-stays-home",
        "broadcast-storm",
        "mediator-crash-mid-2pc",
        "key-compromise",
    ]
    assert "doha-shuttle" in runner.invoke(app, ["rehearse", "list"]).stdout


def test_a_bad_scenario_is_a_diagnostic_and_exit_1(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntrack = "t"\n[[parties]]\nname = "q"\nkind = "delegation"\n')
    result = runner.invoke(app, ["rehearse", "run", str(bad)])
    assert result.exit_code == 1
    assert "the first party must be the mediator" in result.output


def test_run_writes_a_self_contained_timeline_page(tmp_path):
    page = tmp_path / "vance.html"
    result = runner.invoke(app, ["rehearse", "run", "vance-stays-home", "--seed", "2", "--report", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text("utf-8")
    assert html.startswith("<!doctype html>")
    assert "<svg" in html
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for lane in ("network", "qatar", "usa", "iran", "deals"):
        assert f">{lane}</text>" in html
    assert "escalation" in html
    assert "waited" in html  # the principal's vote waited, and the page says so
