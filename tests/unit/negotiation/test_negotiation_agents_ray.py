"""Tournaments on Ray: a local Ray started by the test plays the same rows as local processes.

Ray is the optional extra ``backchannel[ray]`` (installed by requirements-dev.txt). Without it the test
is skipped locally, but under ``CI=true`` a missing Ray is a failure, never a skip.
"""

import importlib.util
import os

import pytest
from negotiation_agents_data import SCENARIO_FILE

from backchannel.negotiation.tournament import Tournament, problems_from_file, read_results, run_tournament

RAY_MISSING = importlib.util.find_spec("ray") is None
if RAY_MISSING and os.environ.get("CI", "").lower() == "true":
    pytest.fail("Ray is not installed, but CI=true: make test installs the [ray] extra", pytrace=False)


@pytest.fixture
def local_ray(monkeypatch):
    if RAY_MISSING:
        pytest.skip("ray is not importable (pip install 'backchannel[ray]')")
    # keep every Ray socket on the loopback address (Ray otherwise binds the host's public IP)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


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
