"""Sweeps on Ray: a local Ray started by the test gives the same report as one local process.

Ray is the optional extra ``backchannel[ray]`` (``make test`` installs it). Without it the test
is skipped locally, but under ``CI=true`` a missing Ray is a failure, never a skip.
"""

import importlib.util
import os

import pytest

from backchannel.api import create_app
from backchannel.errors import ConfigurationError
from backchannel.sim import sweep

RAY_MISSING = importlib.util.find_spec("ray") is None
if RAY_MISSING and os.environ.get("CI", "").lower() == "true":
    pytest.fail("Ray is not installed, but CI=true: make test installs the [ray] extra", pytrace=False)


@pytest.fixture
def local_ray(monkeypatch):
    if RAY_MISSING:
        pytest.skip("ray is not importable (pip install 'backchannel[ray]')")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_a_sweep_on_ray_reports_what_one_process_reports(local_ray) -> None:
    assert local_ray.startswith("127.0.0.1:")
    seen = []
    on_ray = sweep(
        "doha-shuttle", 7, create_app, first=40, ray_address=local_ray, chunk=3, progress=seen.append
    )
    assert sorted(r.seed for r in seen) == list(range(40, 47))  # every seed once, in chunks of 3
    here = sweep("doha-shuttle", 7, create_app, first=40)
    assert on_ray.failing == here.failing == {}
    assert on_ray.to_dict() == here.to_dict()  # the same runs, whatever order they finished in


def test_a_sweep_on_ray_without_ray_installed_says_so(monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray now fails
    with pytest.raises(
        ConfigurationError, match=r"Ray is not installed \(pip install 'backchannel\[ray\]'\)"
    ):
        sweep("doha-shuttle", 1, create_app, ray_address="auto")
