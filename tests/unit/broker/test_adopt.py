"""A queue adopting leases other nodes granted (ADR-0059): the shared record wins only when it is ahead."""

from datetime import timedelta

import pytest

from backchannel.broker import MessageState, Redelivered

S = timedelta(seconds=1)


def test_a_lease_granted_elsewhere_hides_the_message_until_it_expires(queue, envelope, t0) -> None:
    q = queue(credit=2)
    q.put_nowait(envelope("m1"), t0)
    q.put_nowait(envelope("m2"), t0)
    assert q.adopt("m1", 1, t0 + 30 * S) is True
    assert q.message_state("m1") is MessageState.IN_FLIGHT
    assert q.statistics().in_flight == 1
    assert [d.envelope.message_id for d in q.lease(t0 + S)] == ["m2"]  # within the credit, m1 held elsewhere
    assert q.next_wakeup(t0) == t0 + 30 * S
    (outcome,) = q.tick(t0 + 30 * S)  # the adopted lease expires as one granted here
    assert isinstance(outcome, Redelivered)
    assert outcome.attempt == 2


def test_a_record_behind_or_equal_changes_nothing(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m1"), t0)
    (lease,) = q.lease(t0)
    assert q.adopt("m1", 0, t0) is False  # behind
    assert q.adopt("m1", 1, lease.visible_at) is False  # this very lease
    q.tick(lease.visible_at)  # expired here: queued again, attempt 1 seen
    assert q.adopt("m1", 1, lease.visible_at) is False  # an expiry already applied
    assert q.message_state("m1") is MessageState.QUEUED


def test_another_nodes_claim_of_the_same_attempt_replaces_the_local_expiry(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m1"), t0)
    (lease,) = q.lease(t0)
    assert q.adopt("m1", 1, lease.visible_at + 5 * S) is True
    assert q.statistics().in_flight == 1  # still one lease
    assert q.tick(lease.visible_at) == []  # the stale timer is dropped
    assert q.next_wakeup(t0) == lease.visible_at + 5 * S


def test_unknown_and_closed_messages_are_ignored(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m1"), t0)
    q.settle("m1", t0)
    assert q.adopt("m1", 3, t0) is False
    assert q.adopt("nope", 1, t0) is False
    assert q.live_ids() == []


def test_live_ids_are_the_held_messages_sorted(queue, envelope, t0) -> None:
    q = queue()
    for mid in ("b", "a", "c"):
        q.put_nowait(envelope(mid), t0)
    q.settle("c", t0)
    assert q.live_ids() == ["a", "b"]


def test_a_naive_expiry_is_refused(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m1"), t0)
    with pytest.raises(ValueError, match="naive"):
        q.adopt("m1", 1, t0.replace(tzinfo=None))


def test_an_unleased_message_is_ready_again_with_its_attempts(queue, envelope, t0) -> None:
    q = queue(credit=1)
    q.put_nowait(envelope("m1"), t0)
    (lease,) = q.lease(t0)
    assert q.unlease("m1") is True
    assert q.statistics().in_flight == 0
    assert q.tick(lease.visible_at) == []  # its expiry timer is stale
    (again,) = q.lease(t0 + S)
    assert again.attempt == 1  # the refused lease cost no attempt
    assert q.unlease("nope") is False
    q.unlease("m1")
    assert q.unlease("m1") is False  # ready: nothing to take back
