"""Test-suite configuration.

Hypothesis runs without per-example deadlines: CI shares a 2-core machine, and
a slow example is not a failure (speed is measured by ``bench/``, never by
tests). Under ``CI=true`` the examples are derandomised so that a red build is
reproducible; locally they vary from run to run to explore more.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "backchannel",
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("backchannel")
