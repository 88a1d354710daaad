"""Command construction checks the shape of every field (SchemaViolationError lists them all)."""

from datetime import UTC, datetime
from types import MappingProxyType

import pytest
from track_world import AGENDA_V1, new_key

from backchannel.domain import (
    AdmitParty,
    EnrollMember,
    ForwardMessage,
    MessageKind,
    OpenTrack,
    PartyKind,
    Priority,
    ProposeAgenda,
    RatifyAgenda,
    ReceiptItem,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    RevokeKey,
    Role,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.command_envelope import (
    CommandEnvelope,
)
from backchannel.domain.commands import (
    MAX_ALERTED,
    MAX_ANNEXES,
    MAX_RECEIPT_MESSAGES,
    MAX_RECIPIENTS,
)
from backchannel.domain.errors import SchemaViolationError

T = datetime(2026, 1, 1, tzinfo=UTC)
MID = "ab" * 32
ENVELOPE = {
    "track": "talks",
    "member": "iran/lead",
    "key_id": new_key("iran/lead").key_id,
    "issued_at": T,
    "digest": b"\x01" * 32,
}


def violations(command_type, /, **fields):
    with pytest.raises(SchemaViolationError) as info:
        command_type(**{**ENVELOPE, **fields})
    return [(v.field, v.rule) for v in info.value.violations]


def test_envelope_fields_are_all_checked() -> None:
    assert violations(
        RevokeKey,
        track="Bad Track",
        member="nobody",
        key_id="k",
        issued_at=datetime(2026, 1, 1),  # noqa: DTZ001
        digest=b"short",
        idempotency_key="has space",
        subject="iran/lead",
        revoked_key_id=ENVELOPE["key_id"],
    ) == [
        ("track", "pattern"),
        ("member", "pattern"),
        ("key_id", "pattern"),
        ("issued_at", "type"),
        ("digest", "type"),
        ("idempotency_key", "pattern"),
    ]


def test_the_envelope_alone_is_valid() -> None:
    envelope = CommandEnvelope(**ENVELOPE, idempotency_key="retry-1")
    assert (envelope.member, envelope.idempotency_key) == ("iran/lead", "retry-1")


def test_enum_fields_are_stored_as_enum_members() -> None:
    command = SubmitMessage(**ENVELOPE, kind="proposal", priority="flash", body={})
    assert command.kind is MessageKind.PROPOSAL
    assert command.priority is Priority.FLASH


def test_open_track() -> None:
    good = OpenTrack(
        **{**ENVELOPE, "member": "med/chair"},
        title="Talks",
        principal_key=new_key("a"),
        service_key=new_key("b"),
    )
    assert good.mediator_party == "med"
    assert violations(OpenTrack, member="med/service", title="", principal_key="k", service_key=None) == [
        ("member", "reserved"),
        ("title", "length"),
        ("principal_key", "type"),
        ("service_key", "type"),
    ]


def test_admit_party() -> None:
    assert violations(
        AdmitParty,
        party="Iran",
        kind=PartyKind.MEDIATOR,
        principal="iran/service",
        principal_key=new_key("x"),
    ) == [("party", "pattern"), ("principal", "reserved"), ("kind", "one_of")]
    assert violations(
        AdmitParty, party="iran", kind="delegation", principal="usa/lead", principal_key=new_key("x")
    ) == [("principal", "party")]
    assert violations(
        AdmitParty, party="iran", kind="nation", principal="iran/x", principal_key=new_key("x")
    ) == [("kind", "one_of")]


def test_enroll_member() -> None:
    assert violations(EnrollMember, new_member="iran/service", role=Role.SERVICE, new_key=b"") == [
        ("new_member", "reserved"),
        ("role", "one_of"),
        ("new_key", "type"),
    ]


def test_rotate_and_revoke() -> None:
    assert violations(RotateKey, subject="x", old_key_id="y", new_key=None) == [
        ("subject", "pattern"),
        ("old_key_id", "pattern"),
        ("new_key", "type"),
    ]
    assert violations(RevokeKey, subject="x", revoked_key_id="y") == [
        ("subject", "pattern"),
        ("revoked_key_id", "pattern"),
    ]


def test_agenda_commands() -> None:
    assert violations(ProposeAgenda, agenda=AGENDA_V1.to_dict(), agenda_digest=b"") == [
        ("agenda_digest", "type"),
        ("agenda", "type"),
    ]
    assert violations(RatifyAgenda, version=0, agenda_digest=b"\x00" * 32) == [("version", "minimum")]
    assert violations(RatifyAgenda, version=True, agenda_digest=b"\x00" * 32) == [("version", "minimum")]


def test_submit_message() -> None:
    body = {"text": ["a", {"b": 1.5}]}
    command = SubmitMessage(**ENVELOPE, kind=MessageKind.STATEMENT, body=body)
    assert command.priority is Priority.ROUTINE
    assert isinstance(command.body, MappingProxyType)
    assert command.body["text"] == ("a", {"b": 1.5})
    body["text"].append("mutated")  # the command kept its own frozen copy
    assert command.body["text"] == ("a", {"b": 1.5})
    assert violations(
        SubmitMessage,
        kind="rumour",
        priority="urgent",
        in_reply_to="nope",
        body=["not", "an", "object"],
        annexes=[b"\x00" * 32],
        agenda_version=0,
    ) == [
        ("kind", "one_of"),
        ("priority", "one_of"),
        ("in_reply_to", "pattern"),
        ("body", "type"),
        ("annexes", "type"),
        ("agenda_version", "minimum"),
    ]
    assert violations(SubmitMessage, kind="statement", body={}, annexes=(b"\x00" * 32, b"short")) == [
        ("annexes.1", "type")
    ]
    assert violations(SubmitMessage, kind="statement", body={}, annexes=(b"\x00" * 32,) * 2) == [
        ("annexes", "unique")
    ]
    too_many = tuple(bytes([i]) * 32 for i in range(MAX_ANNEXES + 1))
    assert violations(SubmitMessage, kind="statement", body={}, annexes=too_many) == [
        ("annexes", "max_items")
    ]


def test_a_body_must_be_json() -> None:
    assert violations(SubmitMessage, kind="statement", body={"x": float("nan")}) == [("body.x", "type")]
    assert violations(SubmitMessage, kind="statement", body={"x": {1: 2}}) == [("body.x", "type")]
    assert violations(SubmitMessage, kind="statement", body={"x": b"bytes"}) == [("body.x", "type")]
    deep: dict[str, object] = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]
    assert violations(SubmitMessage, kind="statement", body=deep)[0][1] == "depth"


def test_forward_and_reframe() -> None:
    assert violations(ForwardMessage, message_id="x", to_parties=()) == [
        ("message_id", "pattern"),
        ("to_parties", "min_items"),
    ]
    assert violations(ForwardMessage, message_id=MID, to_parties=("usa", "usa")) == [("to_parties", "unique")]
    assert violations(ForwardMessage, message_id=MID, to_parties=("usa", "U S")) == [
        ("to_parties.1", "pattern")
    ]
    many = tuple(f"p{i}" for i in range(MAX_RECIPIENTS + 1))
    assert violations(ForwardMessage, message_id=MID, to_parties=many) == [("to_parties", "max_items")]
    assert violations(ReframeMessage, message_id=MID, to_parties=["usa"], body="text") == [
        ("to_parties", "type"),
        ("body", "type"),
    ]


def test_receipts() -> None:
    zero = b"\x00" * 32
    assert violations(RecordReceipt, items=(), receipt_digest=b"") == [
        ("items", "min_items"),
        ("receipt_digest", "type"),
    ]
    assert violations(RecordReceipt, items=[ReceiptItem(MID, 0)], receipt_digest=zero) == [("items", "type")]
    items = (ReceiptItem(MID, 0), ReceiptItem("x", -1), (MID, 3), ReceiptItem("cd" * 32, True))
    assert violations(RecordReceipt, items=items, receipt_digest=zero) == [
        ("items.1.message_id", "pattern"),
        ("items.1.log_index", "minimum"),
        ("items.2", "type"),
        ("items.3.log_index", "minimum"),
    ]
    many = tuple(ReceiptItem(f"{i:064x}", i) for i in range(MAX_RECEIPT_MESSAGES + 1))
    assert violations(RecordReceipt, items=many, receipt_digest=zero) == [("items", "max_items")]
    assert (
        RecordReceipt(**ENVELOPE, items=many[:-1], receipt_digest=zero).message_ids[-1] == many[-2].message_id
    )


def test_receipt_items_are_unique_by_message_id() -> None:
    other = "cd" * 32
    items = (ReceiptItem(MID, 4), ReceiptItem(other, 5), ReceiptItem(MID, 6))
    with pytest.raises(SchemaViolationError) as info:
        RecordReceipt(**ENVELOPE, items=items, receipt_digest=b"\x00" * 32)
    (violation,) = info.value.violations
    assert (violation.field, violation.rule) == ("items.2.message_id", "unique")
    assert violation.message == f"items.2.message_id: message {MID} is already items.0"


def test_broker_records() -> None:
    assert violations(RecordDeadLetter, message_id=MID, party="usa", attempts=0, reason="x" * 501) == [
        ("attempts", "minimum"),
        ("reason", "length"),
    ]
    assert violations(RecordEscalation, message_id="m", party="U", level=0, to=("nobody",)) == [
        ("message_id", "pattern"),
        ("party", "pattern"),
        ("level", "minimum"),
        ("to.0", "pattern"),
    ]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("usa/lead", [("to", "type")]),
        ((), [("to", "min_items")]),
        (("usa/lead", "usa/lead"), [("to", "unique")]),
        (tuple(f"usa/m{i}" for i in range(MAX_ALERTED + 1)), [("to", "max_items")]),
        (("usa/lead", "usa"), [("to.1", "pattern")]),
    ],
)
def test_an_escalation_alerts_one_to_many_distinct_members(to: object, expected: list[object]) -> None:
    assert violations(RecordEscalation, message_id=MID, party="usa", level=1, to=to) == expected
    most = tuple(f"usa/m{i}" for i in range(MAX_ALERTED))
    assert RecordEscalation(**ENVELOPE, message_id=MID, party="usa", level=1, to=most).to == most
