"""Events: JSON round trips and strict decoding."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from track_world import AGENDA_V1, new_key

from backchannel.domain import (
    AgendaProposed,
    DefineObligation,
    Event,
    KeyRevoked,
    MessageKind,
    MessageSubmitted,
    Priority,
    ReceiptItem,
    RecordConsumption,
    RecordDeadLetter,
    RecordEscalation,
    ReviewObligation,
    RevokeKey,
    Role,
    RotateKey,
    TrackOpened,
    event_from_dict,
)
from backchannel.domain.events import (
    AgendaRatified,
    KeyRotated,
    MemberEnrolled,
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    ObligationDeescalated,
    ObligationDefined,
    ObligationEscalated,
    ObligationMetered,
    PartyAdmitted,
    ReceiptRecorded,
)
from backchannel.errors import EncodingError
from backchannel.log.canonical import canonicalize, loads_strict

T = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
D = b"\x5a" * 32
ALL_TYPES = {
    TrackOpened,
    PartyAdmitted,
    MemberEnrolled,
    KeyRotated,
    KeyRevoked,
    AgendaProposed,
    AgendaRatified,
    MessageSubmitted,
    MessageForwarded,
    MessageReframed,
    ReceiptRecorded,
    MessageDeadLettered,
    MessageEscalated,
    ObligationDefined,
    ObligationMetered,
    ObligationEscalated,
    ObligationDeescalated,
}


def history(world) -> list[Event]:
    """The populated world's events plus one of every other kind."""
    message = world.submit(
        "iran/lead", MessageKind.PROPOSAL, body={"values": {"snapback": True}, "n": [1, 2.5]}
    )
    world.forward(message, "usa", "iaea")
    world.reframe(message, "usa", body={"values": {"snapback": False}}, agenda_version=1)
    world.receipt("usa/lead", message)
    world.run(
        world.cmd(
            RecordDeadLetter, "med/service", message_id=message, party="iaea", attempts=3, reason="gone"
        )
    )
    statement = world.submit("usa/lead", idempotency_key="s-1")
    world.forward(statement, "iran")
    world.run(
        world.cmd(
            RecordEscalation,
            "med/service",
            message_id=statement,
            party="iran",
            level=1,
            to=("iran/deputy", "med/chair"),
        )
    )
    old = world.keys["usa/aide"]
    expires = world.now + timedelta(days=90)
    world.run(
        world.cmd(
            RotateKey, "usa/aide", subject="usa/aide", old_key_id=old.key_id, new_key=new_key("a2", expires)
        )
    )
    world.run(
        world.cmd(RevokeKey, "usa/lead", subject="usa/watch", revoked_key_id=world.keys["usa/watch"].key_id)
    )
    world.run(
        world.cmd(
            DefineObligation, "med/chair", obligation="o-1", party="iran", metric="kg_used", unit="kg",
            rate=1, burst=2, period_seconds=10, ladder=("none", "tier-1"), hold_seconds=5, recovery_pct=50,
        )
    )  # fmt: skip
    world.run(
        world.cmd(
            RecordConsumption, "iaea/lead", obligation="o-1", amount=3, unit="kg", observed_at=world.now
        )
    )
    world.tick(60)
    world.run(world.cmd(ReviewObligation, "med/service", obligation="o-1"))
    return world.events


def test_every_event_round_trips_through_canonical_json(world) -> None:
    events = history(world)
    assert {type(e) for e in events} == ALL_TYPES
    for event in events:
        data = event.to_dict()
        assert data["type"] == event.type
        assert type(event).from_dict(data) == event
        assert event_from_dict(data) == event
        wire = canonicalize(data)
        assert event_from_dict(loads_strict(wire)) == event
        assert canonicalize(event_from_dict(loads_strict(wire)).to_dict()) == wire  # byte-stable


def test_the_json_form_of_a_message() -> None:
    event = MessageSubmitted(
        by="iran/lead",
        at=T,
        command_digest=D,
        idempotency_key="k-1",
        kind=MessageKind.PROPOSAL,
        priority=Priority.FLASH,
        body={"values": {"snapback": True}, "list": [1, {"a": None}]},
        in_reply_to=None,
        annexes=(b"\x01" * 32,),
        agenda_version=3,
    )
    assert event.to_dict() == {
        "type": "message.submitted",
        "by": "iran/lead",
        "at": "2026-03-01T09:00:00.123456Z",
        "command_digest": "5a" * 32,
        "idempotency_key": "k-1",
        "kind": "proposal",
        "priority": "flash",
        "body": {"values": {"snapback": True}, "list": [1, {"a": None}]},
        "in_reply_to": None,
        "annexes": ["01" * 32],
        "agenda_version": 3,
    }
    assert event.message_id == "5a" * 32
    assert isinstance(event.to_dict()["body"]["list"], list)
    assert event.body["list"] == (1, {"a": None})  # frozen inside the event


def test_the_json_form_of_keys() -> None:
    key = new_key("x", expires_at=T)
    event = MemberEnrolled(
        by="iran/lead", at=T, command_digest=D, member="iran/x", role=Role.DELEGATE, key=key
    )
    assert event.to_dict()["key"] == {
        "key_id": key.key_id,
        "ed25519": key.ed25519.hex(),
        "x25519": key.x25519.hex(),
        "expires_at": "2026-03-01T09:00:00.123456Z",
    }
    assert MemberEnrolled.from_dict(event.to_dict()).key == key


def opened() -> dict:
    return TrackOpened(
        by="med/chair",
        at=T,
        command_digest=D,
        track="talks",
        title="Talks",
        principal_key=new_key("a"),
        service_key=new_key("b"),
    ).to_dict()


def edited(path: tuple, value=None, *, delete: bool = False) -> dict:
    data = copy.deepcopy(opened())
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (edited(("extra",), 1), r"track.opened: unknown field\(s\) \['extra'\]"),
        (edited(("title",), delete=True), r"track.opened: missing field\(s\) \['title'\]"),
        (edited(("by",), "nobody"), r"track.opened.by: 'nobody' does not match party/name"),
        (edited(("at",), "2026-03-01T09:00:00Z"), r"track.opened.at: expected a UTC time"),
        (edited(("at",), "2026-02-30T09:00:00.000000Z"), r"track.opened.at: expected a valid date and time"),
        (edited(("at",), 1700000000), r"track.opened.at: expected a UTC time"),
        (edited(("command_digest",), "5A" * 32), r"command_digest: expected 64 lowercase hex digits"),
        (edited(("idempotency_key",), ""), r"track.opened.idempotency_key: '' does not match"),
        (edited(("title",), ""), r"track.opened.title: expected text of 1 to 200 characters"),
        (edited(("title",), 5), r"track.opened.title: expected text"),
        (edited(("track",), "T"), r"track.opened.track: 'T' does not match"),
        (
            edited(("principal_key", "x25519"), "00"),
            r"track.opened.principal_key.x25519: expected 64 lowercase hex",
        ),
        (edited(("principal_key", "extra"), 1), r"track.opened.principal_key: unknown field"),
        (edited(("service_key",), "k"), r"track.opened.service_key: expected a JSON object, got str"),
        (
            edited(("service_key", "key_id"), "ed25519:" + "0" * 32),
            r"track.opened: key.key_id: .* is not the id",
        ),
        (edited(("service_key", "expires_at"), "soon"), r"service_key.expires_at: expected a UTC time"),
    ],
)
def test_strict_decoding_names_the_field(data, message) -> None:
    with pytest.raises(EncodingError, match=message):
        TrackOpened.from_dict(data)
    with pytest.raises(EncodingError, match=message):
        event_from_dict(data)


def test_the_type_field_must_match_the_class() -> None:
    with pytest.raises(
        EncodingError, match=r"track.opened.type: expected 'track.opened', got 'party.admitted'"
    ):
        TrackOpened.from_dict(edited(("type",), "party.admitted"))


def test_a_domain_error_while_decoding_becomes_an_encoding_error_with_its_cause() -> None:
    data = opened()
    data["service_key"]["key_id"] = "ed25519:" + "0" * 32
    with pytest.raises(EncodingError) as info:
        TrackOpened.from_dict(data)
    assert type(info.value.__cause__).__name__ == "SchemaViolationError"


def message_dict(**changes) -> dict:
    data = MessageSubmitted(
        by="iran/lead",
        at=T,
        command_digest=D,
        kind=MessageKind.STATEMENT,
        priority=Priority.ROUTINE,
        body={"t": 1},
        in_reply_to=None,
        annexes=(),
        agenda_version=None,
    ).to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "rumour"}, r"message.submitted.kind: expected one of proposal, counter_proposal"),
        ({"kind": 3}, r"message.submitted.kind: expected one of"),
        ({"priority": "urgent"}, r"message.submitted.priority: expected one of flash, priority, routine"),
        ({"body": [1]}, r"body: expected a JSON object"),
        ({"body": {"x": float("inf")}}, r"message.submitted.body.x: inf is not a JSON number"),
        ({"in_reply_to": "x"}, r"message.submitted.in_reply_to: 'x' does not match"),
        ({"annexes": "00"}, r"message.submitted.annexes: expected a list"),
        ({"annexes": ["00"]}, r"message.submitted.annexes: expected a list of 64-hex-digit values"),
        ({"agenda_version": 0}, r"message.submitted.agenda_version: expected an integer >= 1"),
        ({"agenda_version": True}, r"agenda_version: expected an integer >= 1"),
    ],
)
def test_strict_decoding_of_messages(changes, message) -> None:
    with pytest.raises(EncodingError, match=message):
        MessageSubmitted.from_dict(message_dict(**changes))


def test_strict_decoding_of_lists() -> None:
    forwarded = MessageForwarded(
        by="med/chair", at=T, command_digest=D, message_id="ab" * 32, to_parties=("usa",)
    )
    data = forwarded.to_dict()
    assert MessageForwarded.from_dict(data) == forwarded
    with pytest.raises(EncodingError, match=r"message.forwarded.to_parties: expected a list"):
        MessageForwarded.from_dict({**data, "to_parties": "usa"})
    with pytest.raises(EncodingError, match=r"message.forwarded.to_parties.1: 'U' does not match"):
        MessageForwarded.from_dict({**data, "to_parties": ["usa", "U"]})


def test_strict_decoding_of_agendas() -> None:
    event = AgendaProposed(by="med/chair", at=T, command_digest=D, agenda=AGENDA_V1, agenda_digest=D)
    data = event.to_dict()
    assert AgendaProposed.from_dict(json.loads(json.dumps(data))) == event
    data["agenda"]["issues"][0]["max"] = "ninety"
    with pytest.raises(EncodingError, match=r"agenda.proposed: issues.0.max: expected a finite number"):
        AgendaProposed.from_dict(data)


def test_dispatch_refuses_unknown_types() -> None:
    for bad in ({"type": "track.closed"}, {}, [], {"type": 3}):
        with pytest.raises(EncodingError, match="event: unknown or missing type"):
            event_from_dict(bad)


def test_decoding_refuses_non_objects() -> None:
    with pytest.raises(EncodingError, match="key.revoked: expected a JSON object, got list"):
        KeyRevoked.from_dict([])


def receipt_dict(**changes) -> dict:
    items = (ReceiptItem("ab" * 32, 17), ReceiptItem("cd" * 32, 4))
    data = ReceiptRecorded(by="usa/lead", at=T, command_digest=D, items=items, receipt_digest=D).to_dict()
    data.update(changes)
    return data


def test_the_json_form_of_a_receipt() -> None:
    data = receipt_dict()
    assert data["items"] == [["ab" * 32, 17], ["cd" * 32, 4]]
    assert data["receipt_digest"] == "5a" * 32
    event = ReceiptRecorded.from_dict(data)
    assert event.message_ids == ("ab" * 32, "cd" * 32)
    assert event.party == "usa"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("ab", r"receipt.recorded.items: expected an array of \[message_id, log_index\] pairs"),
        ([["ab" * 32]], r"receipt.recorded.items.0: expected \[message_id, log_index\]"),
        ([["ab" * 32, 1], "ab"], r"receipt.recorded.items.1: expected \[message_id, log_index\]"),
        ([["ab" * 32, "1"]], r"receipt.recorded.items.0: expected \[message_id, log_index\]"),
        ([["ab" * 32, True]], r"receipt.recorded.items.0: expected \[message_id, log_index\]"),
        ([[1, 1]], r"receipt.recorded.items.0: expected \[message_id, log_index\]"),
        ([], r"receipt.recorded.items: expected at least one"),
        ([["x", 1]], r"receipt.recorded.items.0.message_id: 'x' does not match"),
        ([["ab" * 32, -1]], r"receipt.recorded.items.0.log_index: expected an integer >= 0"),
        ([["ab" * 32, 1], ["ab" * 32, 2]], r"receipt.recorded.items.1.message_id: message (ab)+ is already"),
    ],
)
def test_strict_decoding_of_receipts(items, message) -> None:
    with pytest.raises(EncodingError, match=message):
        ReceiptRecorded.from_dict(receipt_dict(items=items))
