"""Tournaments on Ray: a local Ray started by the test plays the same rows as local processes.

Ray is the optional extra ``backchannel[ray]`` (``make test`` installs it). The ``local_ray`` fixture (tests/conftest.py) skips
without it locally, but under ``CI=true`` a missing Ray is a failure, never a skip.
"""

from negotiation_agents_data import SCENARIO_FILE

from backchannel.negotiation.tournament import Tournament, problems_from_file, read_results, run_tournament


def test_a_tournament_on_ray_writes_the_same_rows_as_local_processes(local_ray, tmp_path) -> None:
    assert local_ray.startswith("127.0.0.1:")
    t = Tournament(
        ("boulware", "random"), ("conceder",), tuple(problems_from_file(SCENARIO_FILE)[:3]), repetitions=2
    )
    progress = []
    report = run_tournament(
        t, tmp_path / "ray", ray_address=local_ray, chunk_size=5, on_progress=lambda d, n: progress.append(d)
    )
    assert report.played == 24
    assert progress[-1] == 24
    run_tournament(t, tmp_path / "local", workers=1)
    key = lambda r: r["run_id"]  # noqa: E731
    assert sorted(read_results(tmp_path / "ray").to_pylist(), key=key) == sorted(
        read_results(tmp_path / "local").to_pylist(), key=key
    )
    assert run_tournament(t, tmp_path / "ray", ray_address=local_ray).played == 0
