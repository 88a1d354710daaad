"""Bugs the simulator found, each kept with its seed and its shrunk schedule."""

import pytest

from backchannel.api import create_app
from backchannel.sim import Fault, check_run, load_scenario, run_scenario


@pytest.fixture(scope="module")
def doha():
    return load_scenario("doha-shuttle")


def test_seed_22_a_failed_genesis_append_no_longer_leaves_the_track_unopenable(doha):
    # The track row was created, then the genesis append failed: every retried
    # open_track lost "5 append races in a row" and the track could never open.
    result = check_run(doha, 22, create_app)
    assert result.refused == []
    assert result.size == 22


def test_the_shrunk_schedule_of_seed_22(doha):
    baseline = run_scenario(doha, 22, create_app, faults=[])
    result = run_scenario(doha, 22, create_app, faults=[Fault("store_failure", at=1)])
    assert result.violations == []
    assert result.refused == []
    assert result.commands == baseline.commands + 1  # the genesis, sent again
    assert result.size == baseline.size
