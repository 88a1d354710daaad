from datetime import timedelta

import pytest

from backchannel.broker import Backoff, DeliveryPolicy, Priority
from backchannel.errors import ConfigurationError


def test_defaults() -> None:
    policy = DeliveryPolicy()
    assert policy.credit == 64
    assert policy.queue_limit == 10_000
    assert policy.visibility_timeout == timedelta(seconds=30)
    assert policy.max_attempts == 5
    assert policy.heartbeat_window == timedelta(seconds=90)
    assert dict(policy.ack_deadline) == {
        Priority.FLASH: timedelta(seconds=60),
        Priority.PRIORITY: timedelta(minutes=10),
        Priority.ROUTINE: timedelta(hours=24),
    }
    assert policy.escalate == {Priority.FLASH}
    assert policy.escalate_to == ("alternates", "mediator")  # the recipient's alternates and the mediator


def test_policy_is_immutable_and_hashable() -> None:
    deadlines = dict(DeliveryPolicy().ack_deadline)
    policy = DeliveryPolicy(ack_deadline=deadlines, escalate={Priority.FLASH}, escalate_to=["mediator"])  # type: ignore[arg-type]
    deadlines[Priority.FLASH] = timedelta(days=9)  # the caller's dict is copied
    assert policy.ack_deadline[Priority.FLASH] == timedelta(seconds=60)
    with pytest.raises(TypeError):
        policy.ack_deadline[Priority.FLASH] = timedelta(1)  # type: ignore[index]
    with pytest.raises(AttributeError):
        policy.credit = 1  # type: ignore[misc]
    assert isinstance(policy.escalate, frozenset)
    assert policy.escalate_to == ("mediator",)
    assert hash(policy) == hash(DeliveryPolicy(escalate_to=("mediator",)))
    assert policy == DeliveryPolicy(escalate_to=("mediator",))


_ONLY_FLASH = {Priority.FLASH: timedelta(seconds=1)}
_ZERO_ROUTINE = dict(DeliveryPolicy().ack_deadline) | {Priority.ROUTINE: timedelta(0)}


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"credit": 0}, "credit"),
        ({"credit": -1}, "credit"),
        ({"queue_limit": 0}, "queue_limit"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"visibility_timeout": timedelta(0)}, "visibility_timeout"),
        ({"visibility_timeout": timedelta(seconds=-1)}, "visibility_timeout"),
        ({"heartbeat_window": timedelta(0)}, "heartbeat_window"),
        ({"ack_deadline": _ONLY_FLASH}, "no deadline for priority, routine"),
        ({"ack_deadline": _ZERO_ROUTINE}, "ack_deadline for routine"),
        ({"escalate": frozenset({Priority.ROUTINE})}, "flash"),
        ({"escalate": frozenset()}, "flash"),
        ({"escalate_to": ()}, "at least one"),
        ({"escalate_to": ("mediator", "")}, "'' is neither a member id"),
        ({"escalate_to": ("alternate",)}, "'alternate' is neither a member id"),
        ({"escalate_to": ("usa/",)}, "'usa/' is neither"),
        ({"escalate_to": ("/lead",)}, "'/lead' is neither"),
        ({"escalate_to": ("usa",)}, "'usa' is neither"),
        ({"escalate_to": ("mediator", "mediator")}, "twice"),
    ],
)
def test_policy_fails_closed(fields, match) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DeliveryPolicy(**fields)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"base": timedelta(seconds=-1)}, "base"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"base": timedelta(seconds=10), "max": timedelta(seconds=5)}, "max"),
    ],
)
def test_backoff_fails_closed(fields, match) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Backoff(**fields)


def test_redelivery_delay_grows_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff=Backoff(timedelta(seconds=1), 2.0, timedelta(seconds=10)))
    delays = [policy.redelivery_delay(a).total_seconds() for a in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_redelivery_delay_edge_cases() -> None:
    assert Backoff(timedelta(0), 3.0, timedelta(0)).delay(5) == timedelta(0)
    assert Backoff(timedelta(seconds=2), 1.0, timedelta(seconds=9)).delay(50) == timedelta(seconds=2)
    huge = Backoff(timedelta(seconds=1), 1e10, timedelta(hours=1))
    assert huge.delay(10**6) == timedelta(hours=1)  # float overflow is the cap, not a crash
    with pytest.raises(ValueError, match="from 1"):
        Backoff().delay(0)


def test_escalates_flash_always_others_by_choice() -> None:
    assert DeliveryPolicy().escalates(Priority.FLASH)
    assert not DeliveryPolicy().escalates(Priority.ROUTINE)
    assert DeliveryPolicy(escalate=frozenset(Priority)).escalates(Priority.ROUTINE)


def test_escalation_targets_are_groups_or_member_ids() -> None:
    targets = ("alternates", "principal", "mediator", "usa/lead", "qatar/duty-officer")
    assert DeliveryPolicy(escalate_to=targets).escalate_to == targets
