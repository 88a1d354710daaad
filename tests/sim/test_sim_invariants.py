"""The invariants catch a deliberately broken service, and a failure comes back shrunk."""

from datetime import timedelta

import pytest

from backchannel.api import create_app
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.log import Draft
from backchannel.sim import Fault, InvariantViolation, check_run, load_scenario, run_scenario, shrink
from backchannel.sim.invariants import Observations, check_invariants
from backchannel.store.memory import MemoryEventStore
from backchannel.testing._contract_helpers import InterceptingStore, writer_for

TRACK = "t-invariants"


class LosesUnsyncedWritesOnCrash(InterceptingStore):
    """A broken store: it acknowledges every append, but a crash loses the last two (fsync every other).

    The last append is the crashing command's own, never acknowledged: losing it
    alone is no violation. The one before was acknowledged.
    """

    def __init__(self) -> None:
        super().__init__(MemoryEventStore())
        self.tracks: list[tuple[str, str, str]] = []
        self.batches: list[tuple[object, int]] = []

    def create_track(self, track, origin, log_key):
        self.tracks.append((track, origin, log_key))
        return super().create_track(track, origin, log_key)

    def append(self, batch, expected_size):
        super().append(batch, expected_size)
        self.batches.append((batch, expected_size))

    def on_crash(self):
        del self.batches[-2:]
        self.inner = MemoryEventStore()
        for track in self.tracks:
            self.inner.create_track(*track)
        for batch, size in self.batches:
            self.inner.append(batch, size)


@pytest.fixture(scope="module")
def doha():
    return load_scenario("doha-shuttle")


def test_a_crash_that_loses_an_acknowledged_append_is_caught(doha):
    result = run_scenario(doha, 2, create_app, faults=[Fault("crash", at=12, seconds=2)],
                          store=LosesUnsyncedWritesOnCrash())  # fmt: skip
    assert any("is lost" in v for v in result.violations), result.violations
    assert any("not consistent with the final log" in v for v in result.violations)


def test_the_same_broken_store_without_a_crash_passes(doha):
    result = run_scenario(doha, 2, create_app, faults=[Fault("drop_response", at=12)],
                          store=LosesUnsyncedWritesOnCrash())  # fmt: skip
    assert result.violations == []


def test_shrinking_keeps_only_the_fault_that_breaks_it(doha):
    schedule = [
        Fault("delay", at=9, seconds=3),
        Fault("drop_response", at=10),
        Fault("crash", at=13, seconds=2),
        Fault("duplicate", at=15),
        Fault("skew", party="usa/delegate", seconds=4),
    ]
    failing = run_scenario(doha, 3, create_app, faults=schedule, store=LosesUnsyncedWritesOnCrash())
    assert failing.violations
    shrunk = shrink(doha, 3, create_app, schedule, store_factory=LosesUnsyncedWritesOnCrash)
    assert len(shrunk) == 1
    assert shrunk[0].kind == "crash"


def test_check_run_raises_with_the_seed_the_schedule_and_the_command(doha):
    scenario = doha
    seed = next(s for s in range(40) if any(
        f.kind == "crash" for f in run_scenario(scenario, s, create_app, store=MemoryEventStore()).faults
    ))  # fmt: skip
    with pytest.raises(InvariantViolation) as caught:
        check_run(scenario, seed, create_app, store_factory=LosesUnsyncedWritesOnCrash)
    message = str(caught.value)
    assert f"seed {seed}" in message
    assert f"backchannel rehearse run doha-shuttle --seed {seed}" in message
    assert "fault schedule: " in message
    assert "shrunk schedule: crash" in message
    assert all(f.kind == "crash" for f in caught.value.shrunk)


def test_check_run_returns_the_result_when_every_invariant_holds(doha):
    assert check_run(doha, 0, create_app).violations == []


# --- the checks on hand-made logs ------------------------------------------------------------------
def _log(*events: tuple[str, dict]) -> MemoryEventStore:
    store = MemoryEventStore()
    writer = writer_for(store)
    writer.open_track(TRACK)
    key = SigningKey.from_seed(bytes([9]) * 32)
    register = {"member": "m/service", "ed25519": key.verifying_key.to_text()}
    writer.append(TRACK, [Draft(KEY_REGISTERED, "m/service", register, key)])
    for kind, event in events:
        writer.append(TRACK, [Draft(kind, "m/service", {"event": event}, key)])
    return store


def _violations(store: MemoryEventStore, obs: Observations | None = None) -> list[str]:
    return check_invariants(store, TRACK, store.get_track(TRACK).log_key, obs or Observations()).violations


PREPARED = ("deal.prepared", {"deal": {"id": "d"}, "deal_hash": "h", "voters": ["a/p", "b/p"]})


def test_a_deal_both_committed_and_aborted_is_caught():
    store = _log(PREPARED, ("deal.committed", {"deal_id": "d"}), ("deal.aborted", {"deal_id": "d"}))
    assert "deal d is both committed and aborted" in _violations(store)


def test_a_commit_without_every_yes_on_the_hash_is_caught():
    store = _log(
        PREPARED,
        ("deal.voted", {"deal_id": "d", "vote": "yes", "deal_hash": "h", "by": "a/p"}),
        ("deal.voted", {"deal_id": "d", "vote": "yes", "deal_hash": "other", "by": "b/p"}),
        ("deal.committed", {"deal_id": "d"}),
    )
    assert "deal d committed without a YES on its hash from every voter" in _violations(store)


def test_a_clean_two_phase_commit_passes():
    store = _log(
        PREPARED,
        ("deal.voted", {"deal_id": "d", "vote": "yes", "deal_hash": "h", "by": "a/p"}),
        ("deal.voted", {"deal_id": "d", "vote": "yes", "deal_hash": "h", "by": "b/p"}),
        ("deal.committed", {"deal_id": "d"}),
    )
    assert _violations(store) == []


def test_two_receipts_for_one_delivery_and_a_repeated_key_are_caught():
    store = _log(
        ("message.forwarded", {"idempotency_key": "k1"}),
        ("receipt.recorded", {"by": "b/p", "idempotency_key": "k2", "items": [["m1", 0]]}),
        ("receipt.recorded", {"by": "b/p", "idempotency_key": "k2", "items": [["m1", 0]]}),
    )
    problems = _violations(store)
    assert any("has two receipts from b" in p for p in problems)
    assert any("idempotency key k2 appended receipt.recorded twice" in p for p in problems)


def test_a_lease_after_settlement_is_a_redelivery():
    obs = Observations()
    obs.settled("b", [{"message_id": "m1"}])
    obs.leased("b", [{"message_id": "m1", "priority": "flash"}])
    assert obs.redelivered == ["m1 redelivered to b after its receipt"]


def test_latency_is_measured_from_the_delivering_entry_to_the_receipt():
    store = _log(
        ("message.forwarded", {"idempotency_key": "k1"}),
        ("receipt.recorded", {"by": "b/p", "idempotency_key": "k2", "items": [["m1", 1]]}),
    )
    obs = Observations(priorities={"m1": "flash"})
    report = check_invariants(store, TRACK, store.get_track(TRACK).log_key, obs)
    assert report.violations == []
    assert report.latencies == {"flash": [pytest.approx(timedelta(milliseconds=1).total_seconds())]}


def test_a_command_signed_with_a_revoked_key_is_caught():
    signed = {"payload": {"key_id": "ed25519:abc", "body": {"principal_key": {"key_id": "ed25519:zzz"}}}}
    store = _log(
        ("message.submitted", {"idempotency_key": "k1"}),
        ("key.revoked", {"member": "a/d", "key_id": "ed25519:abc"}),
    )
    writer = writer_for(store)
    key = SigningKey.from_seed(bytes([9]) * 32)
    writer.append(TRACK, [Draft("message.submitted", "m/service", {"command": signed, "event": {}}, key)])
    assert _violations(store) == ["entry 3 was signed with ed25519:abc, revoked at 2"]
