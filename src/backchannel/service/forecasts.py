"""Forecasts on a live track (issue #10 item 8, ADR-0045): compute, record, and show with age and staleness.

:class:`ForecastService` runs the models (:mod:`backchannel.forecast`, NumPy),
which the pure domain does not: :meth:`ForecastService.request` reads the
actor positions in force, evaluates every model on every declared issue,
computes the spread among the bargaining models and signs a
``record_forecast`` command as the service member ``<mediator>/service`` for
the mediator member who asked. The domain checks the watermark (the
declarations the forecast read must still be the ones in force); when a
declaration won the race, the service computes again (at most
:data:`ATTEMPTS` times).

:func:`forecasts_view` and :func:`declarations_view` are the read models
behind ``GET /v1/tracks/{track}/forecasts`` and ``.../forecasts/declarations``:
a forecast is never shown without its age, and always with whether a later
declaration made it stale. A party sees only the forecasts shared with it,
and never a declaration.

This module does not speak HTTP and reads the clock only through its
:class:`~backchannel.clock.Clock`.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime

import numpy as np

from backchannel.clock import Clock
from backchannel.domain import PartyKind, Role, TrackState
from backchannel.domain.errors import NotAuthorizedError, TrackStateError
from backchannel.domain.forecasting import ForecastBook, ForecastRecord, IssuePositions
from backchannel.errors import NotFoundError
from backchannel.forecast.ensemble import DISAGREEMENT_THRESHOLD, MODELS, disagreement, run_models
from backchannel.forecast.models import BargainingInputs
from backchannel.forecast.watermark import format_age
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, sign_command
from backchannel.service.tracks import CommandResult, TrackService

__all__ = [
    "ATTEMPTS",
    "LIVE_MODELS",
    "ForecastService",
    "compute_issues",
    "declarations_view",
    "forecasts_view",
    "require_mediator_staff",
]

ATTEMPTS = 3
"""How often :meth:`ForecastService.request` computes again when a declaration won the race."""
LIVE_MODELS = tuple(name for name in MODELS if name != "commission")
"""The models run on a live track: every model and baseline but the Commission's (a track has none)."""


def require_mediator_staff(state: TrackState, member: str, action: str) -> None:
    """Allow a principal or delegate of the mediator party (the domain's rule, checked before any work).

    Raises:
        NotAuthorizedError: anyone else; the message names the rule.
    """
    record = state.member(member)
    kind = state.parties[record.party].kind
    if kind is not PartyKind.MEDIATOR or record.role not in {Role.PRINCIPAL, Role.DELEGATE}:
        raise NotAuthorizedError(
            f"{member} ({record.role} of {kind} party {record.party}) may not {action}: "
            "only a principal or delegate of the mediator party may"
        )


def _inputs(issues: list[IssuePositions]) -> tuple[BargainingInputs, list[str]]:
    actors = sorted({a.actor for i in issues for a in i.actors})
    column = {name: n for n, name in enumerate(actors)}
    shape = (len(issues), len(actors))
    positions, saliences, capabilities = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    present = np.zeros(shape, dtype=bool)
    for row, issue in enumerate(issues):
        for actor in issue.actors:
            col = column[actor.actor]
            positions[row, col] = actor.position if actor.position is not None else 0.0
            saliences[row, col], capabilities[row, col] = actor.salience, actor.capability
            present[row, col] = True
    reference = np.array([math.nan if i.reference is None else i.reference for i in issues])
    commission = np.full(len(issues), math.nan)
    return BargainingInputs(positions, saliences, capabilities, present, reference, commission), actors


def _number(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def compute_issues(book: ForecastBook) -> list[dict[str, JSONValue]]:
    """Every live model's answer on every declared issue, with the spread among the bargaining models.

    Returns:
        One JSON object per issue (issue name order), as ``record_forecast``'s body carries it.
    """
    names = sorted(book.current)
    inputs, _ = _inputs([book.current[name][0] for name in names])
    answers = run_models(inputs, LIVE_MODELS)
    spread = disagreement(answers)
    return [
        {
            "issue": name,
            "answers": [{"model": m, "value": _number(answers[m][row])} for m in LIVE_MODELS],
            "spread": _number(spread.spread[row]) or 0.0,
            "low_model": spread.low_model[row],
            "high_model": spread.high_model[row],
        }
        for row, name in enumerate(names)
    ]


class ForecastService:
    """Computes and records forecasts for the mediator (see the module docstring).

    Args:
        tracks: The track service.
        node: The service node's keys (it signs as ``<mediator>/service``).
        clock: The clock forecasts are recorded and aged by.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, *, clock: Clock) -> None:
        """Create the service."""
        self._tracks = tracks
        self._node = node
        self._clock = clock

    def request(self, track: str, member: str) -> CommandResult:
        """Compute a forecast from the positions in force and record it for ``member``.

        Raises:
            NotFoundError: no such track.
            NotAuthorizedError: ``member`` is not a principal or delegate of the mediator.
            TrackStateError: no positions are declared, or declarations kept arriving.
        """
        for attempt in range(ATTEMPTS):
            state = self._state(track)
            require_mediator_staff(state, member, "request a forecast")
            book = state.forecasts
            if not book.current:
                raise TrackStateError(
                    "no actor positions are declared on this track: declare_actor_positions first"
                )
            try:
                return self._tracks.execute(self._signed(state, member, book))
            except TrackStateError:
                if attempt == ATTEMPTS - 1 or state.forecasts.watermark() == self._watermark(track):
                    raise
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _watermark(self, track: str) -> tuple[str, ...]:
        return self._state(track).forecasts.watermark()

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state

    def _signed(self, state: TrackState, member: str, book: ForecastBook) -> SignedCommand:
        through = max(d.at for _, d in book.current.values())
        return sign_command(
            self._node.signing,
            track=state.track,
            command="record_forecast",
            member=state.service_member,
            body={
                "requested_by": member,
                "declarations": list(book.watermark()),
                "through": format_timestamp(through),
                "threshold": DISAGREEMENT_THRESHOLD,
                "issues": list(compute_issues(book)),
            },
            issued_at=self._clock.now(),
            nonce=secrets.token_hex(16),
        )


def _forecast(
    state: TrackState, record: ForecastRecord, now: datetime, mediator: bool
) -> dict[str, JSONValue]:
    age = now - record.at
    cause = state.forecasts.stale_cause(record.forecast_id)
    view: dict[str, JSONValue] = {
        "forecast_id": record.forecast_id,
        "recorded_at": format_timestamp(record.at),
        "age_seconds": max(0.0, age.total_seconds()),
        "age": format_age(age),
        "requested_by": record.requested_by,
        "watermark": {
            "declarations": list(record.declarations),
            "through": None if record.through is None else format_timestamp(record.through),
        },
        "threshold": record.threshold,
        "stale": cause is not None,
        "stale_since": None if cause is None else format_timestamp(cause.at),
        "issues": [
            {
                "issue": i.issue,
                "answers": {a.model: a.value for a in i.answers},
                "spread": i.spread,
                "flagged": i.flagged(record.threshold),
                "low_model": i.low_model,
                "high_model": i.high_model,
            }
            for i in record.issues
        ],
    }
    if mediator:
        view["shared_with"] = sorted(record.shared_with)
        view["stale_because"] = (
            None if cause is None else {"declaration": cause.declaration_id, "issues": list(cause.issues)}
        )
    return view


def forecasts_view(state: TrackState, member: str, now: datetime) -> dict[str, JSONValue]:
    """The forecasts ``member`` may see, newest first, each with its age and staleness.

    The mediator's members see every forecast, with whom it was shared and
    which declaration made it stale; another party's members see the
    forecasts shared with their party only.
    """
    party = state.member(member).party
    mediator = state.parties[party].kind is PartyKind.MEDIATOR
    records = [r for r in state.forecasts.forecasts.values() if mediator or party in r.shared_with]
    records.sort(key=lambda r: r.sequence, reverse=True)
    return {"track": state.track, "forecasts": [_forecast(state, r, now, mediator) for r in records]}


def declarations_view(state: TrackState, member: str) -> dict[str, JSONValue]:
    """The actor positions in force per issue and every declaration (the mediator's staff only).

    Raises:
        NotAuthorizedError: anyone but a principal or delegate of the mediator.
    """
    require_mediator_staff(state, member, "read the declared actor positions")
    book = state.forecasts
    return {
        "track": state.track,
        "issues": [
            {
                "issue": name,
                "reference": positions.reference,
                "declaration": declaration.declaration_id,
                "declared_at": format_timestamp(declaration.at),
                "actors": [
                    {
                        "actor": a.actor,
                        "position": a.position,
                        "value": a.value,
                        "salience": a.salience,
                        "capability": a.capability,
                    }
                    for a in positions.actors
                ],
            }
            for name, (positions, declaration) in sorted(book.current.items())
        ],
        "declarations": [
            {
                "declaration": d.declaration_id,
                "at": format_timestamp(d.at),
                "by": d.by,
                "issues": list(d.issues),
            }
            for d in book.declarations
        ],
    }
