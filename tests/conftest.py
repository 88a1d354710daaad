"""Test-suite configuration.

Hypothesis runs without per-example deadlines: CI shares a 2-core machine, and
a slow example is not a failure (speed is measured by ``bench/``, never by
tests). Under ``CI=true`` the examples are derandomised so that a red build is
reproducible; locally they vary from run to run to explore more.
"""

import importlib.util
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "backchannel",
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("backchannel")


@pytest.fixture
def local_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local Ray (one CPU, no dashboard) for the test; its GCS address on 127.0.0.1.

    Ray is the optional extra ``backchannel[ray]`` (``make test`` installs it). Without it
    the test is skipped locally, but under ``CI=true`` a missing Ray is a failure, never a skip.
    """
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Ray is not installed, but CI=true: make test installs the [ray] extra")
        pytest.skip("ray is not importable (pip install 'backchannel[ray]')")
    # keep every Ray socket on the loopback address (Ray otherwise binds the host's public IP)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL on the test PostgreSQL server whose connections use a fresh schema, dropped afterwards.

    The server is ``BACKCHANNEL_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
    Unreachable, the test is skipped locally, but under ``CI=true`` it fails, never skips.
    """
    from backchannel.testing.postgres import fresh_schema

    with fresh_schema() as url:
        yield url
