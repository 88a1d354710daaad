"""Apply events to a track's state: :func:`evolve` (one event) and :func:`fold` (a whole log).

Both share one mutable, private builder (:class:`~backchannel.domain._draft.Draft`)
that copies a state's collections only when an event changes them, so :func:`evolve` costs one copy
of the collections it touches and :func:`fold` is linear in the number of
events. The result is always a new immutable
:class:`~backchannel.domain.state.TrackState`; the input is never changed.

Events are trusted: they are what :func:`~backchannel.domain.track.decide`
emitted. ``evolve`` refuses only what cannot be applied at all (an event
before ``track.opened``, a second ``track.opened``, a reference to an unknown
party, member, key or message) with
:class:`~backchannel.domain.errors.TrackStateError`. It re-checks no rule;
replaying commands through ``decide`` is how a verifier re-checks them.

Each event is applied by the function its feature registered
(:data:`backchannel.domain.features.REGISTRY`); an event class that no feature
registers is refused with an ``EncodingError``. This module does not decide
commands or read a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from immutables import Map

from backchannel.domain._draft import Draft
from backchannel.domain._event_base import Event
from backchannel.domain.errors import TrackStateError
from backchannel.domain.features import REGISTRY
from backchannel.domain.state import TrackState
from backchannel.domain.track_events import TrackOpened

__all__ = ["evolve", "fold"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def evolve(state: TrackState | None, event: Event, *, log_offset: int | None = None) -> TrackState:
    """Apply one event.

    Args:
        state: The state so far; ``None`` before ``track.opened``.
        event: The next event.
        log_offset: The log index of ``track.opened`` (default 0), read when
            ``state`` is ``None``; the state keeps it
            (:attr:`TrackState.log_offset`). With a state, it may only repeat
            the state's own.

    Returns:
        A new state (``state`` is unchanged).

    Raises:
        TrackStateError: the event cannot be applied (see the module docstring).
        ValueError: ``log_offset`` is negative, or differs from the state's (a bug).
    """
    draft = Draft(_start(state, event, log_offset))
    _apply(draft, event)
    return draft.freeze()


def fold(events: Iterable[Event], *, log_offset: int = 0) -> TrackState:
    """Build a track's state from all its events, in log order.

    Args:
        events: Every event of the track, ``track.opened`` first.
        log_offset: The log index of ``track.opened`` (see :func:`evolve`).

    Raises:
        TrackStateError: no events, or one that cannot be applied.
        ValueError: ``log_offset`` is negative.
    """
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        raise TrackStateError("no events to fold: a track starts with track.opened")
    draft = Draft(_start(None, first, log_offset))
    _apply(draft, first)
    for event in iterator:
        _apply(draft, event)
    return draft.freeze()


def _start(state: TrackState | None, event: Event, log_offset: int | None) -> TrackState:
    if log_offset is not None and log_offset < 0:
        raise ValueError(f"log_offset must be >= 0, got {log_offset}")
    if state is not None:
        if log_offset is not None and log_offset != state.log_offset:
            raise ValueError(
                f"log_offset {log_offset} given for a track whose log_offset is {state.log_offset}"
            )
        return state
    if not isinstance(event, TrackOpened):
        raise TrackStateError(f"{event.type} before track.opened")
    return TrackState(
        track=event.track,
        title=event.title,
        mediator=event.mediator,
        opened_at=event.at,
        parties=MappingProxyType({}),
        members=MappingProxyType({}),
        key_owners=_EMPTY,
        agenda=None,
        messages=Map(),
        idempotency=Map(),
        version=0,
        log_offset=log_offset or 0,
    )


def _apply(draft: Draft, event: Event) -> None:
    """Apply one event with its feature's apply function, then count it.

    Raises:
        TrackStateError: the event refers to something the state does not hold.
        EncodingError: no feature registers the event's class.
    """
    rule = REGISTRY.event_rule(type(event))
    try:
        rule.apply(draft, event)
    except KeyError as e:
        raise TrackStateError(f"{event.type} cannot be applied: unknown {e}") from e
    draft.advance(event)
