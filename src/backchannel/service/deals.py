"""The two-phase commit's coordinator: deadlines resolved by the service, and the read view of deals.

The coordinator's state is the log: a deal is prepared, voted, committed and
aborted by events (:mod:`backchannel.domain.agreements.deals`), so a service
killed mid-prepare finds every deal where the log left it. Only the clock
needs a hand: :meth:`DealService.tick` finds every preparing deal whose
deadline is at or before ``now`` and records a ``resolve_deal`` command
signed by the service member ``<mediator>/service`` with an idempotency key
derived from the track and the deal (``deal-deadline:<sha256>``). The domain
aborts the deal (reason ``deadline``, the missing voters named); a re-tick,
a restart, or a race with the last vote changes nothing: a deal that is no
longer preparing is not due, and a resolution refused because the deal
became final meanwhile is ignored. A deal whose deadline passed while the
service was down is aborted on the first tick after the restart (the API's
lifespan ticker ticks at once on start).

:func:`deal_view` is what ``GET /v1/tracks/{track}/deals/{id}`` returns, for
the members allowed to see the deal's events (the mediator's and every
delegation's, :mod:`backchannel.domain.visibility`); to anyone else a deal does
not exist (the same :class:`~backchannel.errors.NotFoundError` as an unknown id).

This module does not speak HTTP and runs no timer.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.domain.agreements.deals import DealRecord, DealStateError, DealStatus
from backchannel.domain.errors import IdempotencyConflictError
from backchannel.domain.ids import PartyKind
from backchannel.errors import NotFoundError
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.tracks import TrackService

__all__ = ["DealService", "deal_list", "deal_view", "resolution_key"]

_log = logging.getLogger(__name__)
_READERS = frozenset({PartyKind.MEDIATOR, PartyKind.DELEGATION})


def resolution_key(track: str, deal_id: str) -> str:
    """The idempotency key of the service's ``resolve_deal`` for a deal (one per deal, ever)."""
    return "deal-deadline:" + hashlib.sha256(f"{track}\n{deal_id}".encode()).hexdigest()


class DealService:
    """Resolves prepare deadlines on tracks held by a :class:`TrackService`.

    Args:
        tracks: The track service (its store holds the tracks).
        node: The service's keys; ``resolve_deal`` is signed with them as
            ``<mediator>/service``.
        clock: The clock ``now`` defaults to and commands are issued at.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, *, clock: Clock) -> None:
        """Create the service."""
        self._tracks = tracks
        self._node = node
        self._clock = clock

    def due(self, track: str, now: datetime | None = None) -> list[DealRecord]:
        """The preparing deals whose deadline is at or before ``now``, in log order."""
        state = self._tracks.state(track)
        if state is None:
            return []
        at = now or self._clock.now()
        found = [
            r
            for r in state.deals.values()
            if r.status is DealStatus.PREPARING and r.deadline is not None and r.deadline <= at
        ]
        return sorted(found, key=lambda r: r.sequence)

    def next_deadline(self, track: str) -> datetime | None:
        """The earliest deadline of a preparing deal (``None``: none is preparing)."""
        state = self._tracks.state(track)
        if state is None:
            return None
        deadlines = [
            r.deadline
            for r in state.deals.values()
            if r.status is DealStatus.PREPARING and r.deadline is not None
        ]
        return min(deadlines, default=None)

    def tick(self, track: str, now: datetime | None = None) -> list[str]:
        """Resolve every due deal of ``track`` (see the module docstring).

        Returns:
            The ids of the deals this tick aborted.

        Raises:
            DomainError: the log refused a resolution for a reason other than the
                deal having become final meanwhile.
        """
        return [record.deal_id for record in self.due(track, now) if self._resolve(track, record.deal_id)]

    def _resolve(self, track: str, deal_id: str) -> bool:
        state = self._tracks.state(track)
        assert state is not None  # due() found the deal on it
        key = resolution_key(track, deal_id)
        signed = sign_command(
            self._node.signing,
            track=track,
            command="resolve_deal",
            member=state.service_member,
            body={"deal_id": deal_id},
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            result = self._tracks.execute(signed)
        except (DealStateError, IdempotencyConflictError):
            # the last vote committed it, a NO aborted it, or another node resolved it, since we looked
            after = self._tracks.state(track)
            assert after is not None
            if after.deal(deal_id).status is DealStatus.PREPARING:
                raise
            return False
        _log.info("deal %s on %s aborted at its prepare deadline", deal_id, track)
        return not result.replayed


def _readable(state: TrackState, member: str) -> bool:
    record = state.members.get(member)
    return record is not None and state.parties[record.party].kind in _READERS


def deal_view(state: TrackState, member: str, deal_id: str) -> dict[str, JSONValue]:
    """The deal as its readers see it: terms, hash, status, voters, votes and outcome.

    Raises:
        NotFoundError: no such deal, or ``member`` may not see it (one answer for both).
    """
    record = state.deals.get(deal_id)
    if record is None or not _readable(state, member):
        raise NotFoundError(f"no deal {deal_id!r} on track {state.track!r}")
    votes: list[JSONValue] = [
        {
            "member": voter,
            "vote": ballot.vote.value,
            "deal_hash": ballot.deal_hash.hex(),
            "at": format_timestamp(ballot.at),
        }
        for voter, ballot in sorted(record.ballots.items())
    ]
    outcome: JSONValue = None
    if record.outcome is not None:
        o = record.outcome
        outcome = {
            "status": o.status.value,
            "at": format_timestamp(o.at),
            "reason": None if o.reason is None else o.reason.value,
            "detail": o.detail,
            "missing": list(o.missing),
            "compensations": [c.to_dict() for c in o.compensations],
        }
    return {
        "deal_id": record.deal_id,
        "deal": record.deal.to_dict(),
        "deal_hash": record.deal_hash.hex(),
        "status": record.status.value,
        "revision": record.revision,
        "by": record.by,
        "agenda_version": record.agenda_version,
        "deadline": None if record.deadline is None else format_timestamp(record.deadline),
        "voters": list(record.voters),
        "missing": list(record.missing) if record.status is DealStatus.PREPARING else [],
        "votes": votes,
        "outcome": outcome,
    }


def deal_list(state: TrackState, member: str) -> list[dict[str, JSONValue]]:
    """Every deal of the track in log order (id, title, status, deadline), or ``[]`` for non-readers."""
    if not _readable(state, member):
        return []
    return [
        {
            "deal_id": r.deal_id,
            "title": r.deal.title,
            "status": r.status.value,
            "revision": r.revision,
            "deadline": None if r.deadline is None else format_timestamp(r.deadline),
        }
        for r in sorted(state.deals.values(), key=lambda r: r.sequence)
    ]
