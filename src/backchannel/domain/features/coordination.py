"""The coordination feature (issue #12, ADR-0027): the mediator's log of dependencies and bookings.

Decisions are in :mod:`~backchannel.domain.coordination.rules`, the fold in
:mod:`~backchannel.domain.coordination.book`. Every event is the mediator's
alone (:func:`~backchannel.domain.coordination.rules.mediator_only`). This
module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.coordination import rules
from backchannel.domain.coordination.commands import (
    BookResource,
    CancelBooking,
    DeclareDependency,
    RecordDependencyMet,
    RegisterResource,
    WithdrawDependency,
)
from backchannel.domain.coordination.events import (
    BookingCancelled,
    CoordinationEvent,
    DeadlockDetected,
    DeadlockResolved,
    DependencyDeclared,
    DependencyMet,
    DependencyWithdrawn,
    ResourceBooked,
    ResourceRegistered,
)
from backchannel.domain.registry import Feature, command, event

__all__ = ["COORDINATION"]


def _apply(draft: Draft, event: CoordinationEvent) -> None:
    draft.coordination = draft.coordination.apply(event)


COORDINATION = Feature(
    "coordination",
    commands=(
        command(DeclareDependency, "declare_dependency", rules.declare_dependency),
        command(WithdrawDependency, "withdraw_dependency", rules.withdraw_dependency),
        command(RecordDependencyMet, "record_dependency_met", rules.record_dependency_met),
        command(RegisterResource, "register_resource", rules.register_resource),
        command(BookResource, "book_resource", rules.book_resource),
        command(CancelBooking, "cancel_booking", rules.cancel_booking),
    ),
    events=(
        event(DependencyDeclared, _apply, rules.mediator_only),
        event(DependencyWithdrawn, _apply, rules.mediator_only),
        event(DependencyMet, _apply, rules.mediator_only),
        event(ResourceRegistered, _apply, rules.mediator_only),
        event(ResourceBooked, _apply, rules.mediator_only),
        event(BookingCancelled, _apply, rules.mediator_only),
        event(DeadlockDetected, _apply, rules.mediator_only),
        event(DeadlockResolved, _apply, rules.mediator_only),
    ),
)
"""The coordination log (ADR-0027)."""
