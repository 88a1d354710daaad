"""Suggested resolutions of a deadlock: what a mediator can change to break its cycle.

For a :class:`~backchannel.coordination.waitfor.Cycle`, :func:`suggest` proposes,
most useful first:

- **preempt** the booking wait of lowest priority on the cycle (the session
  with the least at stake stops waiting, and its holder keeps the resource);
- **phase** a dependency: split the deal the waiter depends on, so a first phase
  can commit without the resource in dispute;
- **move** a meeting: reschedule the booking on the cycle that the others wait on
  least, to a window where its resource is free.

Each suggestion names the wait it would remove, so applying it is removing
that edge from the graph (:meth:`WaitForGraph.remove`). Nothing here applies a
suggestion or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backchannel.coordination.waitfor import Cycle, Wait, WaitKind

__all__ = ["Action", "Suggestion", "suggest"]


class Action(StrEnum):
    """What a suggestion does."""

    PREEMPT = "preempt"
    PHASE = "phase"
    MOVE = "move"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One way to break a cycle: ``action`` on ``wait`` (removing it breaks the cycle)."""

    action: Action
    wait: Wait
    text: str


def suggest(cycle: Cycle) -> list[Suggestion]:
    """The resolutions of ``cycle``, most useful first (see the module docstring).

    A cycle of plain requests (no booking, no dependency) gets none: only the
    parties can answer what they wait for.
    """
    bookings = sorted(
        (w for w in cycle.waits if w.kind is WaitKind.BOOKING), key=lambda w: (w.priority, w.waiter)
    )
    dependencies = sorted((w for w in cycle.waits if w.kind is WaitKind.DEPENDENCY), key=lambda w: w.waiter)
    found: list[Suggestion] = []
    if bookings:
        lowest = bookings[0]
        found.append(
            Suggestion(
                Action.PREEMPT,
                lowest,
                f"preempt the lower-priority hold: {lowest.holder} gives up what {lowest.waiter} "
                f"(priority {lowest.priority}) waits for",
            )
        )
    found += [
        Suggestion(
            Action.PHASE,
            wait,
            f"split into phases: let {wait.waiter} proceed on a first phase that does not need {wait.holder}",
        )
        for wait in dependencies
    ]
    found += [
        Suggestion(Action.MOVE, wait, f"move the meeting: rebook {wait.waiter} when {wait.holder} is free")
        for wait in bookings
    ]
    return found
