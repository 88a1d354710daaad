"""The escrow service: expiry on a timer, and escrow status for readers (ADR-0017).

:class:`EscrowService` sits beside the delivery service over one
:class:`~backchannel.service.tracks.TrackService`:

- **Expiry.** :meth:`EscrowService.tick` finds every open escrow of a track
  whose ``expires_at`` has passed and runs an ``expire_escrow`` command signed
  by the service member ``<mediator>/service``, with an idempotency key
  derived from the escrow id (``escrow-expiry:<sha256 of the id>``). A re-tick,
  a restart or a second node never logs a refund twice: only open escrows are
  due, and a refusal because the escrow was released or refunded meanwhile
  (or the key was used by another node) is ignored.
  :meth:`EscrowService.tick_due` ticks every track and says how long until the
  next expiry; the HTTP app's background ticker calls it.
- **Status.** :meth:`EscrowService.status` returns an escrow and its
  :class:`~backchannel.domain.agreements.escrow_book.EscrowCheck` at ``now``,
  for a member whose party may see it (the mediator, and the parties the
  escrow concerns); to anyone else it does not exist (:class:`NotFoundError`).

Replay (``service/tracks.replay``) re-decides each ``expire_escrow`` at its
recorded time, which is at or after the expiry, so the refund verifies.
This module does not speak HTTP.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.domain.agreements.escrow import visible_escrow
from backchannel.domain.agreements.escrow_book import (
    EscrowCheck,
    EscrowRecord,
    EscrowStatus,
    UnknownEscrowError,
    check_escrow,
)
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.errors import NotFoundError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.tracks import TrackService

__all__ = ["EscrowService", "EscrowView", "expiry_key"]

_log = logging.getLogger(__name__)
_RECHECK_SECONDS = 1.0


def expiry_key(escrow_id: str) -> str:
    """The idempotency key of the service's ``expire_escrow`` for ``escrow_id``."""
    return "escrow-expiry:" + hashlib.sha256(escrow_id.encode()).hexdigest()[:48]


@dataclass(frozen=True, slots=True)
class EscrowView:
    """An escrow and how far its condition is.

    Attributes:
        record: The escrow (terms, digest, signatures, status).
        check: Its check at ``at``.
        at: The instant of the check.
    """

    record: EscrowRecord
    check: EscrowCheck
    at: datetime


class EscrowService:
    """Escrow expiry and status over a :class:`TrackService`.

    Args:
        tracks: The track service.
        node: The service's keys; ``expire_escrow`` is signed with them as ``<mediator>/service``.
        clock: The clock ``now`` defaults to.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, *, clock: Clock) -> None:
        """Create the service."""
        self._tracks = tracks
        self._node = node
        self._clock = clock

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"track {track!r} is not open here")
        return state

    def due(self, track: str, now: datetime | None = None) -> list[str]:
        """The open escrows of ``track`` that expired at or before ``now``, by id.

        Raises:
            NotFoundError: the track is not open here.
        """
        at = now or self._clock.now()
        escrows = self._state(track).escrows.escrows.values()
        return sorted(
            e.escrow_id for e in escrows if e.status is EscrowStatus.OPEN and e.terms.expires_at <= at
        )

    def next_wakeup(self, track: str) -> datetime | None:
        """When the next open escrow of ``track`` expires (``None``: none is open).

        Raises:
            NotFoundError: the track is not open here.
        """
        escrows = self._state(track).escrows.escrows.values()
        return min((e.terms.expires_at for e in escrows if e.status is EscrowStatus.OPEN), default=None)

    def tick(self, track: str, now: datetime | None = None) -> list[str]:
        """Refund every escrow of ``track`` that expired: one ``expire_escrow`` each (idempotent).

        Returns:
            The ids refunded by this call.

        Raises:
            NotFoundError: the track is not open here.
            DomainError: the log refused a refund for a reason other than it
                being recorded, or the escrow being closed, already.
        """
        return [escrow_id for escrow_id in self.due(track, now) if self._expire(track, escrow_id)]

    def _expire(self, track: str, escrow_id: str) -> bool:
        state = self._state(track)
        key = expiry_key(escrow_id)  # a second node's refund of the same escrow conflicts, or replays
        body: dict[str, JSONValue] = {"escrow_id": escrow_id}
        signed = sign_command(
            self._node.signing,
            track=track,
            command="expire_escrow",
            member=state.service_member,
            body=body,
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            return not self._tracks.execute(signed).replayed
        except (IdempotencyConflictError, TrackStateError):
            record = self._state(track).escrows.get(escrow_id)
            if record is not None and record.status is EscrowStatus.OPEN:
                raise
            return False  # released or refunded by another writer since we looked

    def tick_due(self, now: datetime | None = None) -> float:
        """Tick every track with an expired escrow; return seconds until the next expiry (at most 1)."""
        at = now or self._clock.now()
        wait = _RECHECK_SECONDS
        for info in self._tracks.store.list_tracks():
            try:
                self.tick(info.track, at)
                due = self.next_wakeup(info.track)
            except NotFoundError:
                continue  # created, but no track opened in it yet
            except Exception:  # noqa: BLE001 - one track's failure must not stop the others' ticks
                _log.exception("escrow tick failed on track %s", info.track)
                continue
            if due is not None:
                wait = min(wait, max(0.0, (due - at).total_seconds()))
        return wait

    def status(self, track: str, escrow_id: str, member: str, now: datetime | None = None) -> EscrowView:
        """Escrow ``escrow_id`` and its check at ``now``, if ``member``'s party may see it.

        Raises:
            NotFoundError: no such track or escrow, or the member's party may not see it
                (one answer for all three).
        """
        state = self._state(track)
        record = state.members.get(member)
        try:
            if record is None:
                raise UnknownEscrowError(escrow_id)
            escrow = visible_escrow(state, escrow_id, record.party)
        except UnknownEscrowError as e:
            raise NotFoundError(f"no escrow {escrow_id!r} on track {track!r}") from e
        at = now or self._clock.now()
        return EscrowView(escrow, check_escrow(escrow, state.attestations, at), at)
