"""Each fault kind: it strikes, the run absorbs it, and every invariant still holds."""

import pytest

from backchannel.api import create_app
from backchannel.sim import Fault, load_scenario, run_scenario


@pytest.fixture(scope="module")
def doha():
    return load_scenario("doha-shuttle")


@pytest.fixture(scope="module")
def baseline(doha):
    result = run_scenario(doha, 1, create_app, faults=[])
    assert result.violations == []
    assert result.network["starts"] == 1
    return result


def _run(doha, *faults):
    result = run_scenario(doha, 1, create_app, faults=list(faults))
    assert result.violations == [], result.violations
    assert result.refused == [], result.refused
    return result


def test_a_dropped_request_is_sent_again(doha, baseline):
    result = _run(doha, Fault("drop_request", at=10))
    assert result.commands == baseline.commands + 1
    assert result.size == baseline.size


def test_a_dropped_response_is_retried_and_appends_nothing(doha, baseline):
    result = _run(doha, Fault("drop_response", at=10), Fault("drop_response", at=12))
    assert result.commands == baseline.commands + 2
    assert result.network["requests"] > baseline.network["requests"]
    assert result.size == baseline.size  # the retries were replays


def test_a_duplicated_request_is_refused_by_the_service(doha, baseline):
    result = _run(doha, Fault("duplicate", at=9), Fault("duplicate", at=13))
    assert result.network["duplicates"] == 2
    assert result.size == baseline.size


def test_a_delayed_request_arrives_later(doha, baseline):
    result = _run(doha, Fault("delay", at=9, seconds=40))
    assert result.virtual_seconds >= baseline.virtual_seconds + 40
    assert result.size == baseline.size


def test_the_service_crashes_and_restarts_from_its_store(doha, baseline):
    result = _run(doha, Fault("crash", at=10, seconds=5), Fault("crash", at=30, seconds=2))
    assert result.network["starts"] == 3
    assert result.size == baseline.size
    assert result.virtual_seconds >= baseline.virtual_seconds + 5


def test_a_failed_store_write_is_rolled_back_and_resent(doha, baseline):
    result = _run(doha, Fault("store_failure", at=11))
    assert result.commands == baseline.commands + 1
    assert result.size == baseline.size


def test_a_party_offline_for_a_window_catches_up(doha, baseline):
    # the track goes on without Iran: its moves, and the relay of its counter-proposal, wait
    result = _run(doha, Fault("offline", at=9, party="iran", seconds=90))
    assert result.waits
    assert any("relay" in w or "reframe" in w for w in result.waits)
    assert result.violations == []
    assert any(kind == "committed" for _, _, kind, _ in result.timeline)  # the deal still commits
    assert sum(len(v) for v in result.latencies.values()) == sum(len(v) for v in baseline.latencies.values())
    assert max(result.latencies["routine"]) > max(baseline.latencies["routine"])


@pytest.mark.parametrize("seconds", [-25.0, 25.0])
def test_clock_skew_within_the_allowed_window_changes_nothing_but_bytes(doha, baseline, seconds):
    result = _run(doha, Fault("skew", party="usa/delegate", seconds=seconds))
    assert result.size == baseline.size


def test_skew_behind_a_restart_is_refused_then_resent(doha, baseline):
    result = _run(doha, Fault("skew", party="iran/delegate", seconds=-20), Fault("crash", at=11, seconds=1))
    assert result.size == baseline.size
    assert result.commands > baseline.commands + 1


def test_a_stolen_key_signs_until_it_is_revoked_and_never_after():
    scenario = load_scenario("key-compromise")
    for seed in range(3):
        result = run_scenario(scenario, seed, create_app)
        assert result.violations == [], result.violations
        assert result.attacks[0].startswith("forged as usa/delegate before revocation: appended at ")
        assert result.attacks[1] == "forged as usa/delegate after revocation: refused 403"


def test_a_slow_consumer_holding_its_leases_settles_once():
    data = {
        "name": "slow", "track": "slow-consumer",
        "parties": [{"name": "q", "kind": "mediator"}, {"name": "a", "kind": "delegation"},
                    {"name": "b", "kind": "delegation"}],
        "moves": [
            {"do": "submit", "by": "a/principal", "kind": "statement", "as": "m1", "priority": "flash"},
            {"do": "relay", "by": "q/principal", "message": "m1", "to": ["b"]},
            {"do": "hold", "by": "b/principal", "seconds": 45},  # past the 30 s visibility timeout
            {"do": "receive", "by": "b/principal"},
        ],
    }  # fmt: skip
    from backchannel.sim.scenario import parse_scenario

    result = run_scenario(parse_scenario(data), 0, create_app)
    assert result.violations == []
    assert result.refused == []
    assert result.latencies["flash"] == [46.0]  # leased at once, settled 45 s (and a think second) later
