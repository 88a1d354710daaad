"""Multi-track coordination (issue #12, ADR-0027): ``client.coordination``.

One method per command of a coordination log (a track the mediator opened to
coordinate others): :meth:`CoordinationClient.declare_dependency`,
:meth:`~CoordinationClient.withdraw_dependency`,
:meth:`~CoordinationClient.register_resource`,
:meth:`~CoordinationClient.book`, :meth:`~CoordinationClient.cancel`, and
:meth:`~CoordinationClient.status` to read dependencies, resources and
deadlocks. ``record_dependency_met`` is the service's own command: it is sent
by the service when it sees the fact, never by a client.

This module decides nothing: the service refuses what the log's rules refuse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.sdk.session import Session

__all__ = ["CoordinationClient"]


class CoordinationClient:
    """Declare dependencies, register and book resources, read the coordination log's status."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def declare_dependency(  # noqa: PLR0913 - the command's fields, by name
        self, log: str, dependency_id: str, *, waiter: str, on_track: str, kind: str, ref: str
    ) -> dict[str, Any]:
        """``waiter`` (a track, ``track#item`` or ``meeting:x``) waits on ``on_track``'s outcome.

        ``kind`` is ``deal_committed``, ``escrow_released`` or ``commitment_revealed``;
        ``ref`` the deal, escrow or commitment id there.
        """
        body: dict[str, JSONValue] = {
            "dependency_id": dependency_id,
            "waiter": waiter,
            "on_track": on_track,
            "kind": kind,
            "ref": ref,
        }
        return self._session.execute("declare_dependency", body, track=log)

    def withdraw_dependency(self, log: str, dependency_id: str, reason: str) -> dict[str, Any]:
        """Withdraw a waiting dependency (phasing: the waiter no longer needs it)."""
        body: dict[str, JSONValue] = {"dependency_id": dependency_id, "reason": reason}
        return self._session.execute("withdraw_dependency", body, track=log)

    def register_resource(self, log: str, resource_id: str, kind: str, capacity: int = 1) -> dict[str, Any]:
        """Register a ``person``, ``room`` or ``channel``; a person's ``capacity`` is its attention budget."""
        body: dict[str, JSONValue] = {"resource_id": resource_id, "kind": kind, "capacity": capacity}
        return self._session.execute("register_resource", body, track=log)

    def book(  # noqa: PLR0913 - the command's fields, by name
        self,
        log: str,
        booking_id: str,
        *,
        resource: str,
        holder: str,
        start: datetime,
        end: datetime,
        priority: int = 0,
        queue: bool = False,
    ) -> dict[str, Any]:
        """Book ``resource`` for ``holder`` over ``[start, end)``; refused naming the holder, or queued.

        Raises:
            ProblemError: 409 ``track-state`` when it does not fit and ``queue`` is false.
        """
        body: dict[str, JSONValue] = {
            "booking_id": booking_id,
            "resource": resource,
            "holder": holder,
            "start": format_timestamp(start),
            "end": format_timestamp(end),
            "priority": priority,
            "queue": queue,
        }
        return self._session.execute("book_resource", body, track=log)

    def cancel(self, log: str, booking_id: str) -> dict[str, Any]:
        """Cancel a booking; the queued bookings that now fit are accepted."""
        return self._session.execute("cancel_booking", {"booking_id": booking_id}, track=log)

    def status(self, log: str) -> dict[str, Any]:
        """``GET .../coordination``: dependencies, blocked tracks, resources, deadlocks (mediator only).

        Each booking and queued booking carries ``at_risk`` and ``at_risk_reason``
        (a booked person offline, ADR-0053).

        Raises:
            ProblemError: 404 for a reader outside the mediator party.
        """
        return self._session.get_json(f"/v1/tracks/{log}/coordination")
