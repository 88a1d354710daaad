"""evolve and fold: new states, never mutated inputs, and refusal of events that cannot apply."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from track_world import World, new_key, populate

from backchannel.domain import (
    AgendaRatified,
    KeyRevoked,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    TrackOpened,
    evolve,
    fold,
)
from backchannel.domain.errors import TrackStateError

T = datetime(2026, 3, 2, tzinfo=UTC)
D = b"\x42" * 32


def test_fold_equals_evolving_one_event_at_a_time(world) -> None:
    message = world.submit("iran/lead")
    world.forward(message, "usa")
    world.receipt("usa/aide", message)
    assert fold(world.events) == world.state
    assert fold(iter(world.events)).version == len(world.events)


def test_evolve_returns_a_new_state_and_leaves_the_old_one(world) -> None:
    before = world.state
    snapshot = fold(world.events)
    message = world.submit("iran/lead")
    assert world.state is not before
    assert before == snapshot
    assert message not in before.messages
    assert before.version + 1 == world.state.version
    # untouched collections are shared, not copied
    assert world.state.parties is before.parties


def test_states_are_read_only(world) -> None:
    with pytest.raises(TypeError):
        world.s.parties["x"] = world.s.parties["iran"]
    with pytest.raises(AttributeError):
        world.s.track = "other"


def test_nothing_before_the_track_is_opened() -> None:
    with pytest.raises(TrackStateError, match="no events to fold"):
        fold([])
    event = KeyRevoked(by="med/chair", at=T, command_digest=D, member="med/chair", key_id=new_key("x").key_id)
    with pytest.raises(TrackStateError, match="key.revoked before track.opened"):
        evolve(None, event)
    with pytest.raises(TrackStateError, match="key.revoked before track.opened"):
        fold([event])


def test_a_second_opening_cannot_apply(world) -> None:
    opening = world.events[0]
    assert isinstance(opening, TrackOpened)
    with pytest.raises(TrackStateError, match="track talks is already open"):
        evolve(world.state, opening)
    with pytest.raises(TrackStateError, match="already open"):
        fold([opening, opening])


@pytest.mark.parametrize(
    "event",
    [
        KeyRevoked(by="iran/lead", at=T, command_digest=D, member="iran/ghost", key_id=new_key("x").key_id),
        KeyRevoked(by="iran/lead", at=T, command_digest=D, member="iran/lead", key_id=new_key("x").key_id),
        MessageForwarded(by="med/chair", at=T, command_digest=D, message_id="ab" * 32, to_parties=("usa",)),
        MessageReframed(
            by="med/chair",
            at=T,
            command_digest=D,
            reframes="ab" * 32,
            to_parties=("usa",),
            kind="statement",
            priority="routine",
            body={},
            annexes=(),
            agenda_version=None,
        ),
    ],
)
def test_events_naming_unknown_things_cannot_apply(world, event) -> None:
    with pytest.raises(TrackStateError, match=f"{event.type} cannot be applied: unknown"):
        evolve(world.state, event)


def test_a_ratification_without_an_agenda_cannot_apply(make_world) -> None:
    w = make_world()
    w.open()
    event = AgendaRatified(by="iran/lead", at=T, command_digest=D, version=1, agenda_digest=D)
    with pytest.raises(TrackStateError, match="unknown 'agenda'"):
        evolve(w.state, event)


def test_idempotency_remembers_every_event_of_one_command(world) -> None:
    first = MessageSubmitted(
        by="iran/lead",
        at=T,
        command_digest=D,
        idempotency_key="k",
        kind="statement",
        priority="routine",
        body={},
        in_reply_to=None,
        annexes=(),
        agenda_version=None,
    )
    second = MessageForwarded(
        by="iran/lead",
        at=T,
        command_digest=D,
        idempotency_key="k",
        message_id=first.message_id,
        to_parties=("usa",),
    )
    state = evolve(evolve(world.state, first), second)
    assert state.idempotent_result("iran/lead", "k").events == (first, second)
    # a different command reusing the key (which decide refuses) starts a new record
    other = replace(first, command_digest=b"\x43" * 32)
    assert evolve(state, other).idempotent_result("iran/lead", "k").events == (other,)


def test_fold_is_linear_and_independent_of_the_world() -> None:
    a = populate(World())
    b = populate(World())
    assert fold(a.events) == fold(b.events) == a.state


def test_the_log_offset_is_fixed_when_the_track_opens(world) -> None:
    opening, *rest = world.events
    state = evolve(None, opening, log_offset=2)
    assert state.log_offset == 2
    assert state.log_index(5) == 7
    for event in rest:
        state = evolve(state, event, log_offset=2)  # repeating it is fine
    assert state == fold(world.events, log_offset=2)
    assert evolve(None, opening).log_offset == 0
    with pytest.raises(ValueError, match="log_offset 3 given for a track whose log_offset is 2"):
        evolve(state, rest[0], log_offset=3)
    with pytest.raises(ValueError, match="log_offset must be >= 0, got -1"):
        fold(world.events, log_offset=-1)
