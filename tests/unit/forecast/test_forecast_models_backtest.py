"""The backtest on the shared EU-15 data: the published ordering, honest training, the CLI."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from forecast_models_data import DEU_ISSUES, DEU_POSITIONS, GJP_FORECASTS, GJP_QUESTIONS, shared_deu
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.errors import DomainError
from backchannel.forecast.backtest import BacktestReport, run_backtest, score
from backchannel.forecast.dataset import IssueSet
from backchannel.forecast.ensemble import fold_of


@pytest.fixture(scope="module")
def deu() -> IssueSet:
    return shared_deu()


runner = CliRunner()


def flat(output: str) -> str:
    """The CLI's output without the panel's borders and line breaks."""
    return " ".join(output.replace("│", " ").split())


@pytest.fixture(scope="module")
def report(deu: IssueSet) -> BacktestReport:
    return run_backtest(deu, np.random.default_rng(5), resamples=500, draws=4)


def test_the_published_ordering(report: BacktestReport) -> None:
    models = report.models
    assert models["compromise"].n == 172
    assert models["compromise"].mae == pytest.approx(23.9, abs=0.05)
    assert models["median_actor"].mae == pytest.approx(28.6, abs=0.05)
    assert models["constant_50"].mae == pytest.approx(29.0, abs=0.1)
    assert models["compromise"].mae < models["median_actor"].mae < models["constant_50"].mae
    # the paired bootstrap says the compromise model is better than both
    assert models["median_actor"].diff_ci95[0] > 0
    assert models["constant_50"].diff_ci95[0] > 0
    assert models["compromise"].diff_ci95 == (0.0, 0.0)


def test_monte_carlo_intervals_are_checked_per_model(report: BacktestReport) -> None:
    assert set(report.intervals) == set(report.models)
    assert report.intervals["constant_50"].mean_width == 0
    assert report.intervals["compromise"].mean_width > 0
    assert all(0 <= c.coverage <= 1 and c.draws == 4 for c in report.intervals.values())
    entry = report.to_dict()["models"]["compromise"]
    assert entry["monte_carlo"]["level"] == 0.95


def test_flagging_splits_the_errors(report: BacktestReport) -> None:
    assert 0 < report.flagged_share < 1
    c = report.models["compromise"]
    assert c.flagged_n + (c.n - c.flagged_n) == c.n
    assert c.mae_flagged is not None
    assert c.mae_unflagged is not None
    assert c.mae_flagged > c.mae_unflagged  # where the models disagree, forecasts are worse
    doc = report.to_dict()
    flagged = doc["disagreement"]["flagged_issues"]
    assert len(flagged) == int(report.disagreement.flagged.sum())
    issues = doc["issues"]
    assert [i["isnr"] for i in issues if i["models_disagree"]] == flagged
    first = issues[0]
    assert set(first["answers"]) == {*report.models, "ensemble"}
    answers = [
        v
        for k, v in first["answers"].items()
        if k in {"compromise", "weighted_median", "nash_worst", "nash_reference", "expected_utility"}
        and v is not None
    ]
    assert first["spread"] == pytest.approx(max(answers) - min(answers))
    assert first["answers"][first["lowest"]] == min(answers)
    low, high = first["headline_interval"]
    assert low <= first["answers"]["ensemble"] <= high
    assert any(i["outcome"] is None for i in issues)  # one EU-15 issue has no recorded outcome


def test_the_cross_fitted_headline_is_scored_on_every_issue(report: BacktestReport) -> None:
    assert report.training == "10-fold cross-fit"
    assert report.ensemble.n == 172
    assert sum(report.weights.values()) == pytest.approx(1)
    assert 0 <= report.interval_coverage <= 1


def write_split(deu_dir: Path, out: Path, keep: set[str]) -> tuple[Path, Path]:
    paths = []
    for name in ("deu3_issues_wide.csv", "deu3_positions_long.csv"):
        with (deu_dir / name).open(newline="") as handle:
            rows = list(csv.reader(handle))
        col = rows[0].index("isnr")
        target = out / name
        with target.open("w", newline="") as handle:
            csv.writer(handle).writerows([rows[0], *[r for r in rows[1:] if r[col] in keep]])
        paths.append(target)
    return paths[0], paths[1]


def test_train_test_split_by_issue_id_through_the_cli(deu: IssueSet, tmp_path: Path) -> None:
    test_ids = {i for i, k in zip(deu.issue_ids, fold_of(deu.issue_ids, 3), strict=True) if k == 0}
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    tr = write_split(DEU_ISSUES.parent, tmp_path / "train", set(deu.issue_ids) - test_ids)
    te = write_split(DEU_ISSUES.parent, tmp_path / "test", test_ids)
    args = ["forecast", "backtest", "--issues", str(te[0]), "--positions", str(te[1]), "--draws", "0"]
    result = runner.invoke(
        app, [*args, "--train-issues", str(tr[0]), "--train-positions", str(tr[1]), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ensemble"]["training"] == "train files"
    assert "monte_carlo" not in doc["models"]["compromise"]
    assert doc["ensemble"]["n"] == doc["models"]["compromise"]["n"] == len(test_ids)
    assert set(doc["models"]) >= {
        "compromise",
        "weighted_median",
        "nash_worst",
        "expected_utility",
        "constant_50",
    }
    assert all({"n", "mae", "rmse", "median_ae"} <= set(m) for m in doc["models"].values())
    # training on the test issues themselves is refused
    same = runner.invoke(
        app, [*args, "--train-issues", str(te[0]), "--train-positions", str(te[1]), "--json"]
    )
    assert same.exit_code == 1
    assert "also in the test set" in flat(same.output)


def test_backtest_cli_without_training_and_rich(tmp_path: Path) -> None:
    args = ["forecast", "backtest", "--issues", str(DEU_ISSUES), "--positions", str(DEU_POSITIONS)]
    result = runner.invoke(app, [*args, "--draws", "2", "--position-sd", "5"])
    assert result.exit_code == 0, result.output
    assert "compromise" in result.stdout
    assert "flagged 'models disagree'" in result.stdout
    half = runner.invoke(app, [*args, "--train-issues", str(DEU_ISSUES)])
    assert half.exit_code == 1
    assert "give both or neither" in flat(half.output)


def test_backtest_cli_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "w.csv"
    bad.write_text("isnr,rp,out\ni1,,abc\n")
    long = tmp_path / "l.csv"
    long.write_text("isnr,actor,actor_name,position,salience\ni1,de,Germany,50,50\n")
    result = runner.invoke(app, ["forecast", "backtest", "--issues", str(bad), "--positions", str(long)])
    assert result.exit_code == 1
    assert "row 2, column out: not a number" in flat(result.output)


def test_pool_cli_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "rel.png"
    args = ["forecast", "pool", "--forecasts", str(GJP_FORECASTS), "--questions", str(GJP_QUESTIONS)]
    result = runner.invoke(app, [*args, "--json", "--plot", str(png), "--bins", "4"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["methods"]) == {"linear", "logodds", "extremized", "extremized_in_sample"}
    assert doc["methods"]["linear"]["brier"] == pytest.approx(0.374, abs=0.001)
    assert doc["extremizing"]["fit"].startswith("leave-one-question-out")
    assert png.read_bytes()[:4] == b"\x89PNG"
    rich = runner.invoke(app, args)
    assert rich.exit_code == 0
    assert "logodds" in rich.stdout


def test_score_needs_answers() -> None:
    nan = np.array([np.nan])
    with pytest.raises(DomainError, match="no issue has both"):
        score(nan, nan, np.array([1.0]), np.array([False]), np.random.default_rng(0))


def test_pool_cli_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text(
        "ifp_id,user_id,forecast_id,fcast_type,answer_option,value,timestamp\n1001-0,1,-1,0,a,1.7,2011-09-01\n"
    )
    result = runner.invoke(
        app, ["forecast", "pool", "--forecasts", str(bad), "--questions", str(GJP_QUESTIONS)]
    )
    assert result.exit_code == 1
    assert "row 2, column value: must be in [0, 1]" in flat(result.output)
    missing = runner.invoke(
        app, ["forecast", "pool", "--forecasts", str(tmp_path / "no.csv"), "--questions", str(GJP_QUESTIONS)]
    )
    assert missing.exit_code == 1
    assert "no such file" in flat(missing.output)
