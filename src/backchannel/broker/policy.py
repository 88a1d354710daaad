"""Delivery policy: credit, limits, timeouts, backoff, deadlines and escalation.

A policy is a frozen, validated value, and it fails closed: a zero or negative
credit, limit, timeout or window is a :class:`ConfigurationError`, as is a
missing acknowledgement deadline or a policy that would not escalate ``flash``.
This module does NOT apply the policy (:mod:`backchannel.broker.queues` does)
and does not load it from settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from backchannel.broker.messages import Priority
from backchannel.errors import ConfigurationError

__all__ = ["ESCALATION_TARGETS", "Backoff", "DeliveryPolicy"]

_ZERO = timedelta(0)

ESCALATION_TARGETS = frozenset({"alternates", "principal", "mediator"})
"""The group names :attr:`DeliveryPolicy.escalate_to` may use (besides member ids, ``party/name``)."""


def _default_ack_deadlines() -> Mapping[Priority, timedelta]:
    return {
        Priority.FLASH: timedelta(seconds=60),
        Priority.PRIORITY: timedelta(minutes=10),
        Priority.ROUTINE: timedelta(hours=24),
    }


def _is_member_id(text: str) -> bool:
    party, slash, name = text.partition("/")
    return bool(party and slash and name)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(message)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``base * multiplier ** (attempt - 1)``, capped at ``max``.

    Attributes:
        base: The delay after the first failed attempt (zero: redeliver at once).
        multiplier: The growth per attempt (at least 1).
        max: The longest delay.

    Raises:
        ConfigurationError: a negative base, a multiplier below 1, or a max below the base.
    """

    base: timedelta = timedelta(seconds=1)
    multiplier: float = 2.0
    max: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        """Fail closed on a backoff that shrinks or runs backwards."""
        _require(self.base >= _ZERO, f"backoff base must be >= 0, got {self.base}")
        _require(self.multiplier >= 1, f"backoff multiplier must be >= 1, got {self.multiplier}")
        _require(self.max >= self.base, f"backoff max ({self.max}) must be >= its base ({self.base})")

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number ``attempt`` before the next one.

        Args:
            attempt: The attempt that failed (1 for the first delivery).

        Returns:
            ``base * multiplier ** (attempt - 1)``, at most ``max``.

        Raises:
            ValueError: ``attempt`` is below 1.
        """
        if attempt < 1:
            raise ValueError(f"attempts are numbered from 1, got {attempt}")
        try:
            seconds = self.base.total_seconds() * self.multiplier ** (attempt - 1)
        except OverflowError:
            return self.max
        return min(timedelta(seconds=min(seconds, self.max.total_seconds())), self.max)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How one recipient's queue delivers.

    Attributes:
        credit: The most unsettled leased messages a consumer may hold (prefetch).
        queue_limit: The most messages one recipient's queue holds; a put beyond it
            raises :class:`~backchannel.broker.errors.WouldBlock`.
        visibility_timeout: How long a lease lasts before the message is redelivered.
        max_attempts: Deliveries before a message is dead-lettered.
        backoff: The delay before a redelivery.
        ack_deadline: Per priority, how long after it was queued a message must be
            settled (every priority needs one).
        escalate: The priorities whose missed deadline escalates; always includes ``flash``.
        escalate_to: Whom an escalation alerts. Every entry is resolved against the
            track when the deadline lapses, and **all** the members they resolve to
            are alerted at once: one ``message.escalated`` event names each of them
            (in this order, without repeats). An entry is a group name or a member:

            - ``"alternates"``: the recipient party's active delegates (the members
              who can act for it when whoever was due to acknowledge does not);
              if it has none, its active principals;
            - ``"principal"``: the recipient party's active principals;
            - ``"mediator"``: the mediator party's active principals (the alarm);
            - ``"party/name"``: that member, if it is active and belongs to the
              recipient party or the mediator party (nobody else may be alerted).

            "Active" means holding a key that was never revoked. The default,
            ``("alternates", "mediator")``, alerts the recipient's alternates and
            the mediator together.
        heartbeat_window: How long a party stays online after a member's heartbeat.

    Raises:
        ConfigurationError: any value that would weaken delivery (see the module docstring).
    """

    credit: int = 64
    queue_limit: int = 10_000
    visibility_timeout: timedelta = timedelta(seconds=30)
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    ack_deadline: Mapping[Priority, timedelta] = field(default_factory=_default_ack_deadlines, hash=False)
    escalate: frozenset[Priority] = frozenset({Priority.FLASH})
    escalate_to: tuple[str, ...] = ("alternates", "mediator")
    heartbeat_window: timedelta = timedelta(seconds=90)

    def __post_init__(self) -> None:
        """Validate every field and freeze the collections."""
        _require(self.credit >= 1, f"credit must be >= 1, got {self.credit}")
        _require(self.queue_limit >= 1, f"queue_limit must be >= 1, got {self.queue_limit}")
        _require(self.max_attempts >= 1, f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("visibility_timeout", "heartbeat_window"):
            value = getattr(self, name)
            _require(value > _ZERO, f"{name} must be > 0, got {value}")
        self._check_deadlines()
        self._check_escalation()
        object.__setattr__(self, "ack_deadline", MappingProxyType(dict(self.ack_deadline)))
        object.__setattr__(self, "escalate", frozenset(self.escalate))
        object.__setattr__(self, "escalate_to", tuple(self.escalate_to))

    def _check_deadlines(self) -> None:
        missing = sorted(p.value for p in Priority if p not in self.ack_deadline)
        _require(not missing, f"ack_deadline has no deadline for {', '.join(missing)}")
        for priority, deadline in self.ack_deadline.items():
            _require(deadline > _ZERO, f"ack_deadline for {priority} must be > 0, got {deadline}")

    def _check_escalation(self) -> None:
        _require(Priority.FLASH in self.escalate, "escalate must include flash: it is mandatory")
        _require(bool(self.escalate_to), "escalate_to must name at least one target")
        for target in self.escalate_to:
            _require(
                target in ESCALATION_TARGETS or _is_member_id(target),
                f"escalate_to target {target!r} is neither a member id (party/name) "
                f"nor one of {', '.join(sorted(ESCALATION_TARGETS))}",
            )
        _require(len(set(self.escalate_to)) == len(self.escalate_to), "escalate_to names a target twice")

    def redelivery_delay(self, attempt: int) -> timedelta:
        """The backoff after failed delivery attempt ``attempt`` (see :meth:`Backoff.delay`)."""
        return self.backoff.delay(attempt)

    def escalates(self, priority: Priority) -> bool:
        """Whether a missed deadline at ``priority`` escalates."""
        return priority in self.escalate
