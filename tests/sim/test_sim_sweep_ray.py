"""Sweeps on Ray: a local Ray started by the test gives the same report as one local process.

Ray is the optional extra ``backchannel[ray]`` (``make test`` installs it). The ``local_ray`` fixture (tests/conftest.py) skips
without it locally, but under ``CI=true`` a missing Ray is a failure, never a skip.
"""

import pytest

from backchannel.api import create_app
from backchannel.errors import ConfigurationError
from backchannel.sim import sweep


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
