"""Features and the registry: each feature declares its commands and events in one record.

A :class:`Feature` names, in one place, what a capability adds to a track:

- each command class with its wire name (``payload.command``) and the
  function that decides it (:func:`command`);
- each event class with its ``type`` (the class's own ``type``), the function
  that applies it to a :class:`~backchannel.domain._draft.Draft` and the rule
  that says which non-mediator party may see it (:func:`event`).

A :class:`Registry` is built from the features (see
:mod:`backchannel.domain.features`) and refuses, when it is built, a class or a
name registered twice. :func:`~backchannel.domain.track.decide`,
:func:`~backchannel.domain.evolve.evolve`,
:func:`~backchannel.domain.visibility.visible_to`,
:func:`~backchannel.domain.events.event_from_dict` and the wire codecs look
commands and events up here instead of keeping lists of their own; a class
that no feature registers is refused with
:class:`~backchannel.errors.EncodingError` (never an ``assert``).

This module knows no feature itself (that is :mod:`backchannel.domain.features`)
and decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast

from backchannel.domain._draft import Draft
from backchannel.domain._event_base import Event
from backchannel.domain.command_envelope import Command
from backchannel.domain.ids import PartyKind
from backchannel.domain.state import TrackState
from backchannel.errors import EncodingError

__all__ = [
    "CommandRule",
    "EventRule",
    "Feature",
    "Registry",
    "command",
    "delegations_see",
    "event",
    "everyone_sees",
]

C = TypeVar("C", bound=Command)
E = TypeVar("E", bound=Event)

Decide = Callable[[TrackState, Command, datetime], list[Event]]
"""A registered decide function: the events a command causes (or a DomainError)."""
Apply = Callable[[Draft, Event], None]
"""A registered apply function: change the draft as the event says (KeyError for an unknown reference)."""
Visible = Callable[[TrackState, str, Event], bool]
"""A registered visibility rule: may members of ``party`` (neither mediator nor witness) see the event?"""


@dataclass(frozen=True, slots=True)
class CommandRule:
    """One registered command: its class, wire name and decide function (see :func:`command`)."""

    type: type[Command]
    name: str
    decide: Decide


@dataclass(frozen=True, slots=True)
class EventRule:
    """One registered event: its class, apply function and visibility rule (see :func:`event`)."""

    type: type[Event]
    apply: Apply
    visible: Visible

    @property
    def name(self) -> str:
        """The event's ``type`` as written in the log."""
        return self.type.type


@dataclass(frozen=True, slots=True)
class Feature:
    """What one capability adds to a track (see the module docstring).

    Attributes:
        name: The feature's name (``membership``, ``deals``...), for errors and docs.
        commands: Its commands, each once.
        events: Its events, each once.
    """

    name: str
    commands: tuple[CommandRule, ...]
    events: tuple[EventRule, ...]


def command(
    kind: type[C], name: str, decide: Callable[[TrackState, C, datetime], Iterable[Event]]
) -> CommandRule:
    """Register command class ``kind`` under wire name ``name``, decided by ``decide``."""

    def run(state: TrackState, given: Command, now: datetime) -> list[Event]:
        return list(decide(state, cast("C", given), now))  # the registry calls it for ``kind`` only

    return CommandRule(kind, name, run)


def event(
    kind: type[E], apply: Callable[[Draft, E], None], visible: Callable[[TrackState, str, E], bool]
) -> EventRule:
    """Register event class ``kind``: ``apply`` changes the draft, ``visible`` says who sees it."""

    def run(draft: Draft, given: Event) -> None:
        apply(draft, cast("E", given))  # the registry calls it for ``kind`` only

    def sees(state: TrackState, party: str, given: Event) -> bool:
        return visible(state, party, cast("E", given))

    return EventRule(kind, run, sees)


def everyone_sees(state: TrackState, party: str, event: Event) -> bool:
    """The visibility rule of public track metadata: every member party sees it."""
    del state, party, event
    return True


def delegations_see(state: TrackState, party: str, event: Event) -> bool:
    """The visibility rule of deals and commitments: every delegation sees it, no inspector."""
    del event
    return state.parties[party].kind is PartyKind.DELEGATION


class Registry:
    """Every feature's commands and events, looked up by class or name.

    Args:
        features: The features, in order.

    Raises:
        ValueError: a command or event class, a wire name or an event type
            registered twice (a bug in a feature record, found at import).
    """

    def __init__(self, features: Iterable[Feature]) -> None:
        """Index the features (see the class docstring)."""
        self.features = tuple(features)
        self._commands: dict[type[Command], CommandRule] = {}
        self._command_names: dict[str, CommandRule] = {}
        self._events: dict[type[Event], EventRule] = {}
        self._event_names: dict[str, EventRule] = {}
        for feature in self.features:
            for rule in feature.commands:
                _add(self._commands, rule.type, rule, feature)
                _add(self._command_names, rule.name, rule, feature)
            for entry in feature.events:
                _add(self._events, entry.type, entry, feature)
                _add(self._event_names, entry.name, entry, feature)

    @property
    def commands(self) -> Mapping[str, type[Command]]:
        """Each command's wire name and its class, in registration order."""
        return {name: rule.type for name, rule in self._command_names.items()}

    @property
    def events(self) -> Mapping[str, type[Event]]:
        """Each event's ``type`` and its class, in registration order."""
        return {name: rule.type for name, rule in self._event_names.items()}

    def command_rule(self, kind: type[Command]) -> CommandRule:
        """The rule of a command class.

        Raises:
            EncodingError: no feature registers ``kind``.
        """
        rule = self._commands.get(kind)
        if rule is None:
            raise EncodingError(f"not a registered command: {kind.__name__}")
        return rule

    def command_named(self, name: str) -> CommandRule | None:
        """The rule of the command whose wire name is ``name``, if any."""
        return self._command_names.get(name)

    def event_rule(self, kind: type[Event]) -> EventRule:
        """The rule of an event class.

        Raises:
            EncodingError: no feature registers ``kind``.
        """
        rule = self._events.get(kind)
        if rule is None:
            raise EncodingError(f"not a registered event: {kind.__name__}")
        return rule

    def event_named(self, name: str) -> EventRule | None:
        """The rule of the event whose ``type`` is ``name``, if any."""
        return self._event_names.get(name)


K = TypeVar("K")
R = TypeVar("R")


def _add(index: dict[K, R], key: K, rule: R, feature: Feature) -> None:
    if key in index:
        label = key.__name__ if isinstance(key, type) else repr(key)
        raise ValueError(f"feature {feature.name} registers {label} a second time")
    index[key] = rule
