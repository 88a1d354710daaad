"""The registry: every command and event class of the domain is registered exactly once, completely.

The classes are discovered by walking the ``backchannel.domain`` package for
subclasses of the command envelope and of ``Recorded``, so a class that a
feature forgets to register fails here, before release, and never as a 500
at read time. An unregistered class met at run time is refused with a clear
``EncodingError``.
"""

import dataclasses
import importlib
import inspect
import pkgutil
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import pytest

import backchannel.domain
from backchannel.domain import decide, evolve, visible_to
from backchannel.domain._event_base import Recorded
from backchannel.domain.codec import LOG
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.events import event_from_dict
from backchannel.domain.features import FEATURES, REGISTRY
from backchannel.domain.registry import Feature, Registry, command, event, everyone_sees
from backchannel.errors import EncodingError
from backchannel.protocol.wire import COMMAND_NAMES


def _domain_classes(base: type) -> set[type]:
    """Every class of the domain package that subclasses ``base`` (``base`` itself excluded)."""
    found: set[type] = set()
    package = backchannel.domain
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value is not base and issubclass(value, base) and value.__module__ == module.__name__:
                found.add(value)
    return found


COMMANDS = _domain_classes(CommandEnvelope)
EVENT_BASES = {kind for kind in _domain_classes(Recorded) if "type" not in vars(kind)}
EVENTS = _domain_classes(Recorded) - EVENT_BASES  # an event class names its own ``type``


def test_discovery_finds_the_domain_classes() -> None:
    assert len(COMMANDS) == 41  # 32 + forecasts (ADR-0045) 3 + coordination (ADR-0027) 6
    assert len(EVENTS) == 47  # 36 + forecasts 3 + coordination 8


def test_an_event_class_without_a_type_is_only_a_base_of_event_classes() -> None:
    for base in EVENT_BASES:
        assert {kind for kind in EVENTS if issubclass(kind, base)}, f"{base.__name__} has no type"


def test_every_command_class_is_registered_exactly_once() -> None:
    counts = Counter(rule.type for feature in FEATURES for rule in feature.commands)
    assert {kind for kind in COMMANDS if counts[kind] != 1} == set()
    assert set(counts) == COMMANDS  # and nothing else is registered as a command


def test_every_event_class_is_registered_exactly_once() -> None:
    counts = Counter(rule.type for feature in FEATURES for rule in feature.events)
    assert {kind for kind in EVENTS if counts[kind] != 1} == set()
    assert set(counts) == EVENTS


def test_every_command_has_a_wire_name_and_a_decide_function() -> None:
    for feature in FEATURES:
        for rule in feature.commands:
            assert rule.name.isidentifier(), rule
            assert callable(rule.decide), rule
    assert dict(REGISTRY.commands) == COMMAND_NAMES


def test_every_event_has_its_type_an_apply_function_and_a_visibility_rule() -> None:
    for feature in FEATURES:
        for rule in feature.events:
            assert rule.name == rule.type.type
            assert callable(rule.apply), rule
            assert callable(rule.visible), rule
    assert set(REGISTRY.events.values()) == EVENTS


def test_every_event_class_has_a_json_form() -> None:
    # derived from its fields (a field type without a codec fails here), or its own pair
    for kind in EVENTS:
        if "to_dict" in vars(kind):
            assert "from_dict" in vars(kind), kind
            continue
        schema = LOG.schema(kind)
        assert schema.names == {f.name for f in dataclasses.fields(kind)}, kind


def test_a_class_registered_twice_is_refused() -> None:
    (rule,) = [r for r in REGISTRY.features[0].commands if r.name == "admit_party"]
    twice = Feature("twice", commands=(rule,), events=())
    with pytest.raises(ValueError, match="feature twice registers .*AdmitParty"):
        Registry((*FEATURES, twice))
    (opened,) = [r for r in REGISTRY.features[0].events if r.name == "track.opened"]
    with pytest.raises(ValueError, match="feature again registers TrackOpened a second time"):
        Registry((*FEATURES, Feature("again", commands=(), events=(opened,))))
    impostor = event(Impostor, lambda draft, given: None, everyone_sees)
    with pytest.raises(ValueError, match="feature impostor registers 'track.opened' a second time"):
        Registry((*FEATURES, Feature("impostor", commands=(), events=(impostor,))))
    renamed = command(Stray, "admit_party", lambda state, given, now: [])
    with pytest.raises(ValueError, match="feature renamed registers 'admit_party' a second time"):
        Registry((*FEATURES, Feature("renamed", commands=(renamed,), events=())))


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered(Recorded):
    """An event class no feature registers."""

    type: ClassVar[str] = "test.unregistered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Impostor(Recorded):
    """An event class that takes a registered event's type."""

    type: ClassVar[str] = "track.opened"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stray(CommandEnvelope):
    """A command class no feature registers."""


def _unregistered(world) -> Unregistered:
    last = world.events[-1]
    return Unregistered(by=last.by, at=last.at, command_digest=last.command_digest)


def test_an_unregistered_event_at_read_time_is_a_clear_error(world) -> None:
    event = _unregistered(world)
    for reader in ("iran/lead", "med/chair", "swiss/lead"):
        with pytest.raises(EncodingError, match="not a registered event: Unregistered"):
            visible_to(world.s, reader, event)
    with pytest.raises(EncodingError, match="not a registered event: Unregistered"):
        evolve(world.s, event)
    with pytest.raises(EncodingError, match=r"event: unknown or missing type 'test.unregistered'"):
        event_from_dict({"type": "test.unregistered"})


def test_an_unregistered_command_is_a_clear_error(world) -> None:
    stray = world.cmd(Stray, "med/chair")
    with pytest.raises(EncodingError, match="not a registered command: Stray"):
        decide(world.s, stray, world.now)


def test_an_unregistered_event_has_a_json_form_but_no_reader_accepts_it(world) -> None:
    event = _unregistered(world)
    data = event.to_dict()
    assert data["type"] == "test.unregistered"
    assert Unregistered.from_dict(data) == event
    with pytest.raises(EncodingError, match="unknown or missing type 'test.unregistered'"):
        event_from_dict(data)


def test_a_feature_registers_with_the_helpers(world) -> None:
    def apply(draft, event) -> None:
        del draft, event

    def refuse(state, given, now) -> list[Recorded]:
        return [_unregistered(world)]

    extra = Feature(
        "extra",
        commands=(command(Stray, "stray", refuse),),
        events=(event(Unregistered, apply, everyone_sees),),
    )
    registry = Registry((*FEATURES, extra))
    assert registry.command_named("stray") == extra.commands[0]
    assert registry.event_named("test.unregistered") == extra.events[0]
    assert registry.command_rule(Stray).decide(world.s, world.cmd(Stray, "med/chair"), world.now)
    rule = registry.event_rule(Unregistered)
    assert rule.visible(world.s, "iran", _unregistered(world)) is True
    assert registry.command_named("nope") is None
