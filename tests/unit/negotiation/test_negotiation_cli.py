"""``backchannel negotiate run | analyse`` through Typer's CliRunner, checked against the engines."""

import json

import numpy as np
import pytest
from negotiation_helpers import SCENARIO_FILE
from typer.testing import CliRunner

from backchannel.cli.negotiate import negotiate_app
from backchannel.negotiation import analysis
from backchannel.negotiation.engine import play_profile
from backchannel.negotiation.scenario import load_scenario


def flat(text: str) -> str:
    """Terminal output without box drawing and line wrapping."""
    return "".join(text.replace("│", " ").split())


def invoke(*args):
    return CliRunner().invoke(negotiate_app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def shared():
    return load_scenario(SCENARIO_FILE)


@pytest.mark.parametrize("engine", ["reference", "vector"])
def test_run_json_matches_the_reference_engine(engine, shared):
    result = invoke("run", SCENARIO_FILE, "--engine", engine, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    outcomes = document["outcomes"]
    pairs = {(o["profile"], o["opener"]) for o in outcomes}
    assert len(outcomes) == len(pairs) == 2 * len(shared.profiles)
    rounds, distances = [], []
    for item in outcomes:
        assert set(item) == {"profile", "opener", "agreement", "rounds"}
        record = play_profile(shared, item["profile"], item["opener"])
        expected = None if record.agreement is None else list(shared.space.outcome(record.agreement))
        assert item["agreement"] == expected
        assert item["rounds"] == record.rounds
        if record.agreement is not None:
            rounds.append(record.rounds)
            u = shared.utilities(item["profile"])
            nash = analysis.nash_point(u, shared.reserved(item["profile"]))
            if nash is not None:
                distances.append(float(np.linalg.norm(u[record.agreement] - u[nash])))
    assert document["agreement_rate"] == pytest.approx(len(rounds) / len(outcomes))
    assert document["mean_rounds"] == pytest.approx(np.mean(rounds))
    assert document["mean_nash_distance"] == pytest.approx(np.mean(distances))
    assert document["engine"] == engine


def test_run_rich_summary():
    result = invoke("run", SCENARIO_FILE)
    assert result.exit_code == 0
    assert "agreements" in result.stdout
    assert "mean nash distance" in result.stdout


def test_run_refuses_unknown_engine_and_bad_files(tmp_path):
    result = invoke("run", SCENARIO_FILE, "--engine", "warp")
    assert result.exit_code == 1
    assert "--engine:unknownengine'warp'" in flat(result.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = invoke("run", bad, "--json")
    assert result.exit_code == 1
    assert "notJSON" in flat(result.stderr)
    bad.write_text(json.dumps({"schema": "backchannel-bench-scenario/1"}), encoding="utf-8")
    result = invoke("run", bad)
    assert result.exit_code == 1
    assert "outcome_space:missing" in flat(result.stderr)


def test_analyse_json_and_plot(tmp_path, shared):
    png = tmp_path / "space.png"
    result = invoke("analyse", SCENARIO_FILE, "--profile", 2, "--json", "--plot", png)
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)["profiles"]
    u, reserved = shared.utilities(2), shared.reserved(2)
    assert item["pareto_size"] == int(analysis.pareto_mask(u).sum())
    assert item["zopa_size"] == len(analysis.zopa(u, reserved))
    assert item["opposition"] == pytest.approx(analysis.opposition(u))
    nash = analysis.nash_point(u, reserved)
    assert (item["nash"] is None) == (nash is None)
    assert item["max_welfare"]["index"] == analysis.max_welfare_point(u)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyse_every_profile_and_rich(tmp_path, shared):
    result = invoke("analyse", SCENARIO_FILE, "--json")
    assert len(json.loads(result.stdout)["profiles"]) == len(shared.profiles)
    png = tmp_path / "p.png"
    result = invoke("analyse", SCENARIO_FILE, "--profile", 0, "--plot", png)
    assert result.exit_code == 0
    assert "opposition" in result.stdout
    assert png.exists()
    result = invoke("analyse", SCENARIO_FILE, "--profile", 99)
    assert result.exit_code == 1
    assert "--profile:99" in flat(result.stderr)
    result = invoke("analyse", SCENARIO_FILE, "--profile", 0, "--plot", tmp_path / "missing" / "p.png")
    assert result.exit_code == 1
    assert "--plot" in flat(result.stderr)


def test_registered_on_the_main_app():
    from backchannel.cli.main import app

    result = CliRunner().invoke(app, ["negotiate", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "run" in result.stdout
    assert "analyse" in result.stdout
