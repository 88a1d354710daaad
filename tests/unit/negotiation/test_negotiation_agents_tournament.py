"""Tournaments: Cartesian runs, derived seeds, Parquet results, resumption, local processes."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from negotiation_agents_data import SCENARIO_FILE

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.negotiation.agents import make_agent
from backchannel.negotiation.protocols import run_sao
from backchannel.negotiation.tournament import (
    RESULT_SCHEMA,
    Tournament,
    completed_run_ids,
    derive_seed,
    problems_from_file,
    read_results,
    run_tournament,
    summarize,
)

PROFILES = problems_from_file(SCENARIO_FILE)


def small(**kw):
    args = {
        "agents": ("boulware", "random"),
        "opponents": ("conceder", "tit-for-tat"),
        "scenarios": tuple(PROFILES[:3]),
        "repetitions": 2,
    }
    return Tournament(**{**args, **kw})


def rows(out_dir):
    return sorted(read_results(out_dir).to_pylist(), key=lambda r: r["run_id"])


def test_profiles_are_the_files_utility_formula() -> None:
    data = json.loads(SCENARIO_FILE.read_text())
    p = data["profiles"][4]
    profile = PROFILES[4]
    assert profile.name == "sao-3x10-boulware-vs-conceder#4"
    assert profile.shape == (10, 10, 10)
    assert profile.n_rounds == 100
    o = (7, 2, 9)
    index = int(np.ravel_multi_index(o, profile.shape))
    for col, side in enumerate("AB"):
        w, v = p[side]["weights"], p[side]["values"]
        assert profile.utilities[index, col] == w[0] * v[0][o[0]] + w[1] * v[1][o[1]] + w[2] * v[2][o[2]]
        assert profile.reserved[col] == p[side]["reserved_value"]


def test_the_product_is_cartesian_with_unique_ids_and_derived_seeds() -> None:
    t = small()
    runs = t.runs()
    assert len(runs) == 2 * 2 * 3 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert len({r.seed for r in runs}) == len(runs)
    assert all(r.seed == derive_seed(0, r.run_id) for r in runs)
    assert {r.seed for r in small(seed=1).runs()}.isdisjoint({r.seed for r in runs})


def test_results_are_parquet_rows_that_replay_exactly(tmp_path) -> None:
    report = run_tournament(small(), tmp_path, workers=1)
    assert (report.total, report.skipped, report.played) == (48, 0, 48)
    assert pq.read_schema(report.parts[0]).equals(RESULT_SCHEMA)
    table = read_results(tmp_path)
    assert table.num_rows == 48
    for row in table.to_pylist()[:10]:
        profile = next(p for p in PROFILES if p.name == row["scenario"])
        again = run_sao(
            [make_agent(row["agent"]), make_agent(row["opponent"])],
            profile.utilities,
            profile.reserved,
            n_rounds=100,
            rng=np.random.default_rng(row["seed"]),
            opener="AB".index(row["opener"]),
        )
        assert (again.agreement, again.rounds) == (row["agreement"], row["rounds"])
        assert row["welfare"] == pytest.approx(sum(again.utilities))
        assert row["agreed"] == (row["agreement"] is not None)
        assert (row["pareto_optimal"] is None) == (row["agreement"] is None)


def test_local_processes_give_the_same_rows_as_one_process(tmp_path) -> None:
    run_tournament(small(), tmp_path / "one", workers=1, chunk_size=7)
    seen = []
    report = run_tournament(
        small(), tmp_path / "two", workers=2, chunk_size=7, on_progress=lambda d, n: seen.append((d, n))
    )
    assert len(report.parts) == 7
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
    assert seen[0] == (0, 48)
    assert seen[-1] == (48, 48)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_rerun_skips_completed_runs_and_fills_in_missing_ones(tmp_path) -> None:
    first = run_tournament(small(agents=("boulware",)), tmp_path, workers=1, chunk_size=5)
    assert first.played == 24
    full = run_tournament(small(), tmp_path, workers=1, chunk_size=5)
    assert (full.skipped, full.played) == (24, 24)
    again = run_tournament(small(), tmp_path, workers=1)
    assert (again.skipped, again.played, again.parts) == (48, 0, ())
    lost = full.parts[0]
    lost_ids = set(pq.read_table(lost).column("run_id").to_pylist())
    lost.unlink()
    refill = run_tournament(small(), tmp_path, workers=1)
    assert refill.played == len(lost_ids)
    assert len(completed_run_ids(tmp_path)) == 48
    assert len(rows(tmp_path)) == 48
    fresh = tmp_path / "fresh"
    run_tournament(small(), fresh, workers=1)
    assert rows(tmp_path) == rows(fresh)  # resumption changes nothing


@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**63 - 1))
def test_same_seed_same_tournament(tmp_path, seed) -> None:
    t = Tournament(("random",), ("random", "conceder"), tuple(PROFILES[5:7]), repetitions=2, seed=seed)
    a, b = tmp_path / f"{seed}-a", tmp_path / f"{seed}-b"
    run_tournament(t, a, workers=1)
    run_tournament(t, b, workers=1, chunk_size=3)
    assert rows(a) == rows(b)


def test_different_seeds_change_random_runs(tmp_path) -> None:
    t = Tournament(("random",), ("random",), tuple(PROFILES[:4]), repetitions=3)
    run_tournament(t, tmp_path / "a", workers=1)
    run_tournament(
        Tournament(("random",), ("random",), tuple(PROFILES[:4]), repetitions=3, seed=9),
        tmp_path / "b",
        workers=1,
    )
    assert [r["agreement"] for r in rows(tmp_path / "a")] != [r["agreement"] for r in rows(tmp_path / "b")]


def test_summary_aggregates_per_pairing(tmp_path) -> None:
    run_tournament(small(), tmp_path, workers=1)
    table_rows = rows(tmp_path)
    summary = summarize(read_results(tmp_path))
    assert [(s["agent"], s["opponent"]) for s in summary] == [
        ("boulware", "conceder"),
        ("boulware", "tit-for-tat"),
        ("random", "conceder"),
        ("random", "tit-for-tat"),
    ]
    for s in summary:
        mine = [r for r in table_rows if (r["agent"], r["opponent"]) == (s["agent"], s["opponent"])]
        agreed = [r for r in mine if r["agreed"]]
        assert s["runs"] == len(mine) == 12
        assert s["agreement_rate"] == pytest.approx(len(agreed) / 12)
        assert s["mean_welfare"] == pytest.approx(np.mean([r["welfare"] for r in mine]))
        if agreed:
            assert s["mean_rounds"] == pytest.approx(np.mean([r["rounds"] for r in agreed]))


def test_bad_tournaments_name_the_field(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match=r"tournament\.opponents\[1\]: unknown agent 'x'"):
        small(opponents=("conceder", "x"))
    with pytest.raises(ConfigurationError, match=r"tournament\.agents: must not be empty"):
        small(agents=())
    with pytest.raises(ConfigurationError, match="openers"):
        small(openers=("C",))
    with pytest.raises(ConfigurationError, match="unique"):
        small(scenarios=(PROFILES[0], PROFILES[0]))
    with pytest.raises(ConfigurationError, match="repetitions"):
        small(repetitions=0)
    with pytest.raises(ConfigurationError, match="workers"):
        run_tournament(small(), tmp_path, workers=0)
    with pytest.raises(ConfigurationError, match="no tournament results"):
        read_results(tmp_path / "empty")


def test_malformed_scenario_files_are_errors_naming_the_field(tmp_path) -> None:
    data = json.loads(SCENARIO_FILE.read_text())
    data["profiles"][1]["A"].pop("weights")
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match=r"profiles\[1\]\.A"):
        problems_from_file(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match="cannot read"):
        problems_from_file(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(EncodingError):
        problems_from_file(tmp_path / "x.json")


def test_asking_for_ray_without_ray_installed_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if it were not installed
    with pytest.raises(ConfigurationError, match=r"backchannel\[ray\]"):
        run_tournament(small(), tmp_path, ray_address="auto")
