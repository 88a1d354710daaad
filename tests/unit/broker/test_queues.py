from datetime import UTC, datetime, timedelta, timezone

import pytest

from backchannel.broker import (
    Backoff,
    DeadLettered,
    Delivery,
    DeliveryPolicy,
    Escalated,
    MessageState,
    Priority,
    QueueStatistics,
    RecipientQueue,
    Redelivered,
    UnknownDeliveryError,
    WouldBlock,
)
from backchannel.testing.clock import FakeClock

F, P, R = Priority.FLASH, Priority.PRIORITY, Priority.ROUTINE
TO = ("alternates", "mediator")  # the default policy's escalate_to


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.envelope.message_id for d in deliveries]


# -- order, credit, backpressure -------------------------------------------------------------------


def test_lease_orders_by_priority_then_log_index(queue, envelope, t0) -> None:
    q = queue()
    for mid, prio, index in [("r1", R, 1), ("f5", F, 5), ("p3", P, 3), ("f2", F, 2), ("r0", R, 0)]:
        assert q.put_nowait(envelope(mid, prio, log_index=index), t0) is True
    deliveries = q.lease(t0)
    assert ids(deliveries) == ["f2", "f5", "p3", "r0", "r1"]
    assert deliveries[0] == Delivery(
        envelope("f2", F, log_index=2), attempt=1, leased_at=t0, visible_at=t0 + s(30)
    )


def test_a_later_flash_jumps_the_queue(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("r", R, log_index=1), t0)
    q.put_nowait(envelope("p", P, log_index=2), t0)
    assert ids(q.lease(t0, max_n=1)) == ["p"]
    q.put_nowait(envelope("f", F, log_index=3), t0)
    assert ids(q.lease(t0)) == ["f", "r"]


def test_max_n_limits_a_lease(queue, envelope, t0) -> None:
    q = queue()
    for i in range(3):
        q.put_nowait(envelope(f"m{i}", log_index=i), t0)
    assert q.lease(t0, max_n=0) == []
    assert ids(q.lease(t0, max_n=2)) == ["m0", "m1"]
    with pytest.raises(ValueError, match="max_n"):
        q.lease(t0, max_n=-1)
    assert q.statistics().in_flight == 2


def test_credit_limits_unsettled_leases(queue, envelope, t0) -> None:
    q = queue(credit=2)
    for i in range(5):
        q.put_nowait(envelope(f"m{i}", log_index=i), t0)
    assert ids(q.lease(t0)) == ["m0", "m1"]
    assert q.lease(t0) == []
    assert ids(q.lease(t0, max_n=10)) == []
    assert q.settle("m0", t0)
    assert ids(q.lease(t0)) == ["m2"]
    assert q.statistics().in_flight == 2


def test_full_queue_raises_would_block_with_retry_after(queue, envelope, t0) -> None:
    q = queue(queue_limit=2, visibility_timeout=s(20))
    q.put_nowait(envelope("m0"), t0)
    q.put_nowait(envelope("m1"), t0)
    with pytest.raises(WouldBlock) as caught:
        q.put_nowait(envelope("m2"), t0)
    assert caught.value.retry_after == 20.0
    assert (caught.value.queued, caught.value.limit) == (2, 2)
    assert "full (2 of 2)" in str(caught.value)
    assert q.put_nowait(envelope("m1"), t0) is False  # a retried put still answers, even when full
    assert q.statistics().queued == 2
    assert q.settle("m0", t0)
    assert q.put_nowait(envelope("m2"), t0) is True


def test_in_flight_messages_count_against_the_limit(queue, envelope, t0) -> None:
    q = queue(queue_limit=1)
    q.put_nowait(envelope("m0"), t0)
    q.lease(t0)
    with pytest.raises(WouldBlock):
        q.put_nowait(envelope("m1"), t0)


# -- idempotency -----------------------------------------------------------------------------------


def test_put_is_idempotent(queue, envelope, t0) -> None:
    q = queue()
    assert q.put_nowait(envelope("m"), t0) is True
    before = q.statistics()
    assert q.put_nowait(envelope("m"), t0 + s(5)) is False
    assert q.put_nowait(envelope("m", F, log_index=99), t0) is False  # the id decides, not the content
    assert q.statistics() == before
    assert ids(q.lease(t0)) == ["m"]


def test_settled_and_dead_lettered_ids_are_not_queued_again(queue, envelope, t0) -> None:
    q = queue(max_attempts=1)
    q.put_nowait(envelope("done"), t0)
    q.put_nowait(envelope("dead"), t0)
    q.lease(t0)
    q.settle("done", t0)
    assert [type(o) for o in q.tick(t0 + s(30))] == [DeadLettered]
    assert q.put_nowait(envelope("done"), t0 + s(31)) is False
    assert q.put_nowait(envelope("dead"), t0 + s(31)) is False
    assert q.lease(t0 + s(31)) == []


def test_settle_is_idempotent(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    assert q.settle("m", t0) is True
    after = q.statistics()
    assert q.settle("m", t0 + s(1)) is False
    assert q.statistics() == after
    assert after.settled_total == 1


def test_settle_of_an_unknown_id_raises(queue, t0) -> None:
    with pytest.raises(UnknownDeliveryError) as caught:
        queue().settle("nope", t0)
    assert caught.value.message_id == "nope"


def test_settle_of_a_queued_message_counts(queue, envelope, t0) -> None:
    """A receipt for a lease lost in a restart still settles the message."""
    q = queue()
    q.put_nowait(envelope("m"), t0)
    assert q.settle("m", t0) is True
    assert q.lease(t0) == []
    assert q.statistics().in_flight == 0


def test_settle_after_dead_letter_is_a_no_op(queue, envelope, t0) -> None:
    q = queue(max_attempts=1)
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    q.tick(t0 + s(30))
    assert q.settle("m", t0 + s(31)) is False
    assert q.message_state("m") is MessageState.DEAD_LETTERED
    assert q.statistics().settled_total == 0


# -- redelivery and dead letters -------------------------------------------------------------------


def test_redelivery_after_visibility_timeout_with_backoff(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(1), 2.0, s(60)))
    m = envelope("m")
    q.put_nowait(m, t0)
    (first,) = q.lease(t0)
    assert q.tick(t0 + s(29)) == []
    assert q.tick(t0 + s(30)) == [Redelivered(m, attempt=2, ready_at=t0 + s(31))]
    assert q.message_state("m") is MessageState.QUEUED
    assert q.lease(t0 + s(30)) == []  # still in backoff
    assert q.next_wakeup(t0 + s(30)) == t0 + s(31)
    (second,) = q.lease(t0 + s(31))
    assert (first.attempt, second.attempt) == (1, 2)
    assert second.visible_at == t0 + s(61)
    assert q.tick(t0 + s(61)) == [Redelivered(m, attempt=3, ready_at=t0 + s(63))]
    assert q.statistics().redeliveries_total == 2


def test_a_late_tick_keeps_the_backoff_anchored_at_expiry(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(5), 2.0, s(60)))
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    assert q.tick(t0 + s(100)) == [Redelivered(envelope("m"), attempt=2, ready_at=t0 + s(35))]
    assert [d.attempt for d in q.lease(t0 + s(100))] == [2]


def test_dead_letter_after_max_attempts_with_the_reason(queue, envelope, t0) -> None:
    clock = FakeClock(t0)
    q = queue(max_attempts=2, backoff=Backoff(s(0), 1.0, s(0)))
    m = envelope("m", P)
    q.put_nowait(m, clock.now())
    q.lease(clock.now())
    clock.advance(s(30))
    assert q.tick(clock.now()) == [Redelivered(m, attempt=2, ready_at=clock.now())]
    q.lease(clock.now())
    clock.advance(s(30))
    (outcome,) = q.tick(clock.now())
    assert isinstance(outcome, DeadLettered)
    assert (outcome.envelope, outcome.attempts) == (m, 2)
    assert "not acknowledged after 2 delivery attempt(s)" in outcome.reason
    assert "0:00:30" in outcome.reason
    assert q.message_state("m") is MessageState.DEAD_LETTERED
    stats = q.statistics()
    assert (stats.queued, stats.in_flight, stats.dead_lettered_total, stats.redeliveries_total) == (
        0,
        0,
        1,
        1,
    )
    clock.advance(s(3600))
    assert q.lease(clock.now()) == []
    assert q.tick(clock.now()) == []


def test_nothing_is_delivered_after_settlement(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    q.settle("m", t0 + s(1))
    assert q.tick(t0 + s(31)) == []
    assert q.lease(t0 + s(100)) == []
    assert q.message_state("m") is MessageState.SETTLED


def test_settle_after_the_lease_expired_but_before_tick(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    assert q.settle("m", t0 + s(45)) is True
    assert q.tick(t0 + s(45)) == []
    assert q.statistics().redeliveries_total == 0


def test_settle_during_backoff_drops_the_redelivery(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(10), 2.0, s(60)))
    q.put_nowait(envelope("a", log_index=1), t0)
    q.put_nowait(envelope("b", log_index=2), t0)
    q.lease(t0)
    q.tick(t0 + s(30))  # both back in backoff until t0 + 40
    q.settle("a", t0 + s(31))
    assert q.next_wakeup(t0 + s(31)) == t0 + s(40)
    q.settle("b", t0 + s(32))
    assert q.next_wakeup(t0 + s(32)) is None
    assert q.lease(t0 + s(40)) == []


def test_settled_ready_messages_are_skipped_when_leasing(queue, envelope, t0) -> None:
    q = queue()
    for i in range(3):
        q.put_nowait(envelope(f"m{i}", log_index=i), t0)
    q.settle("m0", t0)
    q.settle("m1", t0)
    assert ids(q.lease(t0)) == ["m2"]
    assert q.lease(t0) == []


def test_backoff_ended_messages_compete_by_priority(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(10), 1.0, s(10)))
    q.put_nowait(envelope("r", R, log_index=1), t0)
    q.lease(t0)
    q.tick(t0 + s(30))  # r ready again at t0 + 40
    q.put_nowait(envelope("p", P, log_index=2), t0 + s(35))
    q.put_nowait(envelope("r2", R, log_index=3), t0 + s(35))
    assert ids(q.lease(t0 + s(40))) == ["p", "r", "r2"]


def test_backoff_ended_message_settled_before_lease_is_skipped(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(10), 1.0, s(10)))
    q.put_nowait(envelope("m"), t0)
    q.lease(t0)
    q.tick(t0 + s(30))
    q.settle("m", t0 + s(31))
    assert q.lease(t0 + s(50)) == []


# -- escalation ------------------------------------------------------------------------------------


def test_flash_escalates_exactly_once(queue, envelope, t0) -> None:
    q = queue()
    m = envelope("m", F)
    q.put_nowait(m, t0)
    assert q.tick(t0 + s(59)) == []
    assert q.tick(t0 + s(60)) == [Escalated(m, level=1, deadline=t0 + s(60), to=TO)]
    assert q.tick(t0 + s(600)) == []
    assert q.statistics().escalated_total == 1


def test_other_priorities_escalate_only_if_the_policy_says_so(queue, envelope, t0) -> None:
    later = t0 + timedelta(days=2)
    quiet = queue()
    quiet.put_nowait(envelope("r", R), t0)
    quiet.put_nowait(envelope("p", P), t0)
    assert quiet.tick(later) == []
    loud = queue(escalate=frozenset({F, R}), escalate_to=("mediator",))
    loud.put_nowait(envelope("r", R), t0)
    loud.put_nowait(envelope("p", P), t0)
    assert loud.tick(later) == [Escalated(envelope("r", R), 1, t0 + timedelta(hours=24), ("mediator",))]


def test_escalation_does_not_stop_delivery_and_settle_stops_everything(queue, envelope, t0) -> None:
    q = queue(visibility_timeout=s(50), backoff=Backoff(s(0), 1.0, s(0)))
    m = envelope("m", F)
    q.put_nowait(m, t0)
    q.lease(t0)
    assert q.tick(t0 + s(50)) == [Redelivered(m, attempt=2, ready_at=t0 + s(50))]
    assert ids(q.lease(t0 + s(50))) == ["m"]
    assert q.tick(t0 + s(60)) == [Escalated(m, 1, t0 + s(60), TO)]
    assert q.message_state("m") is MessageState.IN_FLIGHT  # still leased after escalating
    assert q.settle("m", t0 + s(70)) is True
    assert q.tick(t0 + s(1000)) == []
    assert q.lease(t0 + s(1000)) == []
    assert q.next_wakeup(t0 + s(1000)) is None
    stats = q.statistics()
    assert (stats.escalated_total, stats.settled_total, stats.redeliveries_total) == (1, 1, 1)


def test_settle_before_the_deadline_prevents_escalation(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m", F), t0)
    q.settle("m", t0 + s(10))
    assert q.next_wakeup(t0 + s(10)) is None
    assert q.tick(t0 + s(60)) == []


def test_a_late_tick_reports_outcomes_in_time_order(queue, envelope, t0) -> None:
    q = queue(max_attempts=1, escalate=frozenset(Priority))
    f, r = envelope("f", F, log_index=2), envelope("r", R, log_index=1)
    q.put_nowait(r, t0)
    q.put_nowait(f, t0)
    q.lease(t0, max_n=1)  # f: expires at t0 + 30, before its deadline at t0 + 60
    assert q.tick(t0 + timedelta(days=2)) == [
        DeadLettered(f, 1, _reason("0:00:30")),
        Escalated(r, 1, t0 + timedelta(hours=24), TO),
    ]


def _reason(timeout: str) -> str:
    return f"not acknowledged after 1 delivery attempt(s), each with a visibility timeout of {timeout}"


def test_dead_lettered_messages_do_not_escalate_later(queue, envelope, t0) -> None:
    q = queue(max_attempts=1)
    q.put_nowait(envelope("f", F), t0)
    q.lease(t0)
    assert [type(o) for o in q.tick(t0 + s(30))] == [DeadLettered]
    assert q.next_wakeup(t0 + s(30)) is None
    assert q.tick(t0 + s(60)) == []


def test_at_equal_times_escalation_comes_before_the_dead_letter(queue, envelope, t0) -> None:
    q = queue(max_attempts=1, visibility_timeout=s(60))
    f = envelope("f", F)
    q.put_nowait(f, t0)
    q.lease(t0)
    assert q.tick(t0 + s(60)) == [Escalated(f, 1, t0 + s(60), TO), DeadLettered(f, 1, _reason("0:01:00"))]


# -- next_wakeup -----------------------------------------------------------------------------------


def test_next_wakeup(queue, envelope, t0) -> None:
    q = queue(backoff=Backoff(s(5), 1.0, s(5)))
    assert q.next_wakeup(t0) is None
    q.put_nowait(envelope("r", R), t0)
    assert q.next_wakeup(t0) is None  # ready, nothing timed
    q.put_nowait(envelope("f", F, log_index=1), t0)
    assert q.next_wakeup(t0) == t0 + s(60)  # flash deadline
    q.lease(t0 + s(10))
    assert q.next_wakeup(t0 + s(10)) == t0 + s(40)  # lease expiries
    q.settle("r", t0 + s(20))
    assert q.next_wakeup(t0 + s(20)) == t0 + s(40)
    assert [type(o) for o in q.tick(t0 + s(40))] == [Redelivered]
    assert q.next_wakeup(t0 + s(40)) == t0 + s(45)  # end of f's backoff
    assert q.next_wakeup(t0 + s(45)) == t0 + s(60)  # f ready now; its deadline is next
    assert q.next_wakeup(t0 + s(61)) == t0 + s(60)  # overdue: tick has work to do now
    assert [type(o) for o in q.tick(t0 + s(61))] == [Escalated]
    assert q.next_wakeup(t0 + s(61)) is None


def test_next_wakeup_says_when_tick_first_acts(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("f", F), t0)
    q.lease(t0)
    wake = q.next_wakeup(t0)
    assert wake == t0 + s(30)
    assert q.tick(wake - timedelta(microseconds=1)) == []
    assert q.tick(wake) != []


# -- statistics, state, time -----------------------------------------------------------------------


def test_statistics(queue, envelope, t0) -> None:
    q = queue(credit=2, max_attempts=1)
    assert q.statistics() == QueueStatistics(0, 0, 0, 0, 0, 0, 0, 0)
    for i, prio in enumerate([F, R, R]):
        q.put_nowait(envelope(f"m{i}", prio, log_index=i), t0)
    q.lease(t0)
    assert q.statistics() == QueueStatistics(
        queued=3,
        ready=1,
        in_flight=2,
        settled_total=0,
        redeliveries_total=0,
        dead_lettered_total=0,
        escalated_total=0,
        peak_queued=3,
    )
    q.settle("m0", t0 + s(1))
    q.tick(t0 + s(30))  # m1 dead-lettered
    q.put_nowait(envelope("m3", log_index=3), t0 + s(31))
    assert q.statistics() == QueueStatistics(2, 2, 0, 1, 0, 1, 0, 3)


def test_message_state(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m"), t0)
    assert q.message_state("m") is MessageState.QUEUED
    q.lease(t0)
    assert q.message_state("m") is MessageState.IN_FLIGHT
    q.settle("m", t0)
    assert q.message_state("m") is MessageState.SETTLED
    with pytest.raises(UnknownDeliveryError):
        q.message_state("other")


def test_time_never_runs_backwards(queue, envelope, t0) -> None:
    q = queue()
    q.put_nowait(envelope("m"), t0 + s(100))
    (delivery,) = q.lease(t0)
    assert delivery.leased_at == t0 + s(100)


def test_times_must_be_aware_and_are_reported_in_utc(queue, envelope, t0) -> None:
    q = queue()
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    for call in (
        lambda: q.put_nowait(envelope("m"), naive),
        lambda: q.lease(naive),
        lambda: q.settle("m", naive),
        lambda: q.tick(naive),
        lambda: q.next_wakeup(naive),
        lambda: q.restore(envelope("m"), enqueued_at=naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()
    tehran = timezone(timedelta(hours=3, minutes=30))
    q.put_nowait(envelope("m"), t0.astimezone(tehran))
    (delivery,) = q.lease(t0.astimezone(tehran))
    assert delivery.leased_at.tzinfo is UTC
    assert delivery.leased_at == t0


@pytest.mark.parametrize("fields", [{"recipient": "usa"}, {"track": "other"}])
def test_envelopes_for_another_queue_are_refused(queue, envelope, t0, fields) -> None:
    q = queue()
    with pytest.raises(ValueError, match="not 'iran' on 't'"):
        q.put_nowait(envelope("m", **fields), t0)
    with pytest.raises(ValueError, match="not 'iran' on 't'"):
        q.restore(envelope("m", **fields), enqueued_at=t0)


def test_default_policy() -> None:
    q = RecipientQueue("t", "iran")
    assert q.policy == DeliveryPolicy()
    assert (q.track, q.recipient) == ("t", "iran")


# -- rebuilding from the log -----------------------------------------------------------------------


def test_restore_ignores_the_limit_and_keeps_the_deadline_clock(queue, envelope, t0) -> None:
    q = queue(queue_limit=1)
    now = t0 + s(50)
    assert q.restore(envelope("a", F), enqueued_at=t0) is True
    assert q.restore(envelope("b", F, log_index=1), enqueued_at=t0 + s(10), escalated=True) is True
    assert q.restore(envelope("a", F), enqueued_at=t0) is False
    assert q.statistics().peak_queued == 2
    assert q.next_wakeup(now) == t0 + s(60)
    assert q.tick(t0 + s(70)) == [Escalated(envelope("a", F), 1, t0 + s(60), TO)]  # b: already escalated
    assert ids(q.lease(now)) == ["a", "b"]
    with pytest.raises(WouldBlock):
        q.put_nowait(envelope("c"), now)
