"""Idempotency: a retry returns [] and the first result; the same key for another command conflicts."""

import pytest
from track_world import new_key

from backchannel.domain import ForwardMessage, OpenTrack, RevokeKey, SubmitMessage
from backchannel.domain.errors import IdempotencyConflictError, KeyRevokedError


def test_a_retry_appends_nothing_and_finds_the_first_result(world) -> None:
    command = world.cmd(SubmitMessage, "iran/lead", kind="statement", body={"t": 1}, idempotency_key="msg-1")
    (event,) = world.run(command)
    assert event.idempotency_key == "msg-1"
    world.tick(30)
    assert world.decide(command) == []
    first = world.s.idempotent_result("iran/lead", "msg-1")
    assert first.command_digest == command.digest
    assert first.events == (event,)
    assert world.s.idempotent_result("iran/deputy", "msg-1") is None
    assert world.s.idempotent_result("iran/lead", "msg-2") is None


def test_the_same_key_for_another_command_conflicts(world) -> None:
    world.run(world.cmd(SubmitMessage, "iran/lead", kind="statement", body={"t": 1}, idempotency_key="msg-1"))
    other = world.cmd(SubmitMessage, "iran/lead", kind="statement", body={"t": 2}, idempotency_key="msg-1")
    with pytest.raises(IdempotencyConflictError, match="iran/lead already used idempotency key 'msg-1'"):
        world.decide(other)


def test_keys_are_per_member(world) -> None:
    world.run(world.cmd(SubmitMessage, "iran/lead", kind="statement", body={}, idempotency_key="k"))
    assert world.run(world.cmd(SubmitMessage, "usa/lead", kind="statement", body={}, idempotency_key="k"))


def test_every_event_of_a_command_is_remembered(world) -> None:
    message = world.submit("iran/lead")
    forward = world.cmd(
        ForwardMessage, "med/chair", message_id=message, to_parties=("usa",), idempotency_key="f"
    )
    (event,) = world.run(forward)
    assert world.s.idempotent_result("med/chair", "f").events == (event,)


def test_the_signing_key_is_checked_before_idempotency(world) -> None:
    command = world.cmd(SubmitMessage, "iran/deputy", kind="statement", body={}, idempotency_key="x")
    world.run(command)
    key = world.keys["iran/deputy"].key_id
    world.run(world.cmd(RevokeKey, "iran/lead", subject="iran/deputy", revoked_key_id=key))
    with pytest.raises(KeyRevokedError):
        world.decide(command)


def test_a_retried_opening_finds_the_open_track(make_world) -> None:
    w = make_world()
    w.keys["med/chair"] = new_key("med/chair")
    command = w.cmd(
        OpenTrack,
        "med/chair",
        title="Talks",
        principal_key=w.keys["med/chair"],
        service_key=new_key("med/service"),
        idempotency_key="open",
    )
    (event,) = w.run(command)
    assert w.decide(command) == []
    assert w.s.idempotent_result("med/chair", "open").events == (event,)
