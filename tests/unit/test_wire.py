"""The signed-command wire format: round trips, the domain mapping, strictness, tampering, digests."""

import copy
import dataclasses
import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType

import pytest
import rfc8785

from backchannel.domain.agenda import Agenda, BooleanIssue, ChoiceIssue, DateIssue, NumberIssue, TextIssue
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.commands import (
    AdmitParty,
    DefineObligation,
    EnrollMember,
    ForwardMessage,
    OpenTrack,
    ProposeAgenda,
    RatifyAgenda,
    RecordConsumption,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    ReviewObligation,
    RevokeKey,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.errors import SchemaViolationError
from backchannel.domain.ids import MessageKind, PartyKind, Priority, Role
from backchannel.domain.keys import NewKey
from backchannel.domain.receipts import ReceiptItem
from backchannel.errors import EncodingError, VerificationError
from backchannel.log.canonical import loads_strict
from backchannel.log.signing import AgreementKey, SigningKey, b64encode
from backchannel.protocol.wire import (
    COMMAND_NAMES,
    SignedCommand,
    agenda_digest,
    command_body,
    deal_hash,
    escrow_digest,
    new_key_from_dict,
    new_key_to_dict,
    receipt_digest,
    sign_command,
    to_domain,
)

T = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
T_TEXT = "2026-03-01T09:30:15.123456Z"
EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
MID = "ab" * 32
MID2 = "cd" * 32
DIGEST = bytes(range(32))
RECEIPT_ITEMS = [[MID2, 21], [MID, 17]]  # the command's order; the digest sorts by message id
RECEIPT_DIGEST = hashlib.sha256(rfc8785.dumps([[MID, 17], [MID2, 21]])).digest()


def signing(n: int) -> SigningKey:
    return SigningKey.from_seed(bytes([n]) * 32)


def grant(n: int, expires_at: datetime | None = None) -> NewKey:
    """The public halves of key pair ``n`` (a real Ed25519 and X25519 pair)."""
    ed = signing(n).verifying_key
    x = AgreementKey.from_private_bytes(bytes([n + 100]) * 32)
    return NewKey(ed.key_id, ed.public_bytes, x.public_bytes, expires_at)


def grant_json(n: int, expires_at: str | None = None) -> dict:
    key = grant(n)
    return {
        "key_id": key.key_id,
        "ed25519": b64encode(key.ed25519),
        "x25519": b64encode(key.x25519),
        "expires_at": expires_at,
    }


CHAIR = signing(1)  # med/chair
IRAN = signing(3)  # iran/lead
SERVICE = signing(2)  # med/service

AGENDA = Agenda(
    version=2,
    issues=(
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        ChoiceIssue("sanctions_relief", ("none", "partial", "full")),
        BooleanIssue("snapback"),
        DateIssue("review_date", date(2026, 1, 1), date(2030, 12, 31)),
        TextIssue("notes", 2000),
    ),
)
AGENDA_JSON = {
    "version": 2,
    "issues": [
        {"name": "enrichment_cap_pct", "type": "number", "unit": "%", "min": 0, "max": 90, "step": 0.01},
        {"name": "sanctions_relief", "type": "one_of", "options": ["none", "partial", "full"]},
        {"name": "snapback", "type": "boolean"},
        {"name": "review_date", "type": "date", "earliest": "2026-01-01", "latest": "2030-12-31"},
        {"name": "notes", "type": "text", "max_length": 2000},
    ],
}

DEAL_JSON = {
    "id": "doha-1",
    "title": "Relief for a cap",
    "phases": [
        [
            {"party": "iran", "action": "cap", "issue": "enrichment_cap_pct",
             "quantity": {"value": 3.67, "unit": "%"}, "conditions": ["IAEA verifies"]},
            {"party": "usa", "action": "relieve", "issue": None,
             "quantity": {"value": "tier-1", "unit": None}, "conditions": [{"ref": "deal:doha-0"}]},
        ]
    ],
}  # fmt: skip
ESCROW_TERMS = {
    "escrow_id": "assets-1",
    "items": [
        {"what": "frozen assets", "amount": 6000000000, "unit": "USD", "owner": "usa", "beneficiary": "iran"}
    ],
    "signers": ["usa", "med"],
    "threshold": 2,
    "predicates": ["iaea.enrichment_pct <= 3.67 sustained for 30 days"],
    "expires_at": T_TEXT,
}

# name -> (signer, member, body): the wire layout of every command, written out literally
BODIES: dict[str, tuple[SigningKey, str, dict]] = {
    "open_track": (
        CHAIR,
        "med/chair",
        {"title": "Talks", "principal_key": grant_json(1), "service_key": grant_json(2, T_TEXT)},
    ),
    "admit_party": (
        CHAIR,
        "med/chair",
        {"party": "iran", "kind": "delegation", "principal": "iran/lead", "principal_key": grant_json(3)},
    ),
    "enroll_member": (
        IRAN,
        "iran/lead",
        {"new_member": "iran/deputy", "role": "delegate", "new_key": grant_json(4, T_TEXT)},
    ),
    "rotate_key": (
        IRAN,
        "iran/lead",
        {"subject": "iran/deputy", "old_key_id": grant(4).key_id, "new_key": grant_json(5)},
    ),
    "revoke_key": (IRAN, "iran/lead", {"subject": "iran/deputy", "revoked_key_id": grant(5).key_id}),
    "propose_agenda": (CHAIR, "med/chair", {"agenda": AGENDA_JSON}),
    "ratify_agenda": (IRAN, "iran/lead", {"version": 2, "agenda_digest": agenda_digest(AGENDA).hex()}),
    "submit_message": (
        IRAN,
        "iran/lead",
        {
            "kind": "proposal",
            "body": {"values": {"enrichment_cap_pct": 3.67, "snapback": True}, "note": ["a", {"b": None}]},
            "priority": "flash",
            "in_reply_to": MID2,
            "annexes": [DIGEST.hex(), "ff" * 32],
            "agenda_version": 2,
        },
    ),
    "forward_message": (CHAIR, "med/chair", {"message_id": MID, "to_parties": ["usa", "iaea"]}),
    "reframe_message": (
        CHAIR,
        "med/chair",
        {
            "message_id": MID,
            "to_parties": ["usa"],
            "body": {"text": "Iran proposes a cap."},
            "annexes": [],
            "agenda_version": None,
        },
    ),
    "record_receipt": (
        IRAN,
        "iran/lead",
        {"items": RECEIPT_ITEMS, "receipt_digest": RECEIPT_DIGEST.hex()},
    ),
    "record_dead_letter": (
        SERVICE,
        "med/service",
        {"message_id": MID, "party": "usa", "attempts": 5, "reason": "no ack within 10 minutes"},
    ),
    "record_escalation": (
        SERVICE,
        "med/service",
        {"message_id": MID, "party": "usa", "level": 2, "to": ["usa/lead", "med/chair"]},
    ),
    # agreements (issue #4)
    "draft_deal": (CHAIR, "med/chair", {"deal": DEAL_JSON}),
    "prepare_deal": (CHAIR, "med/chair", {"deal": DEAL_JSON, "deadline": T_TEXT}),
    "vote_deal": (IRAN, "iran/lead", {"deal_id": "doha-1", "deal_hash": DIGEST.hex(), "vote": "yes"}),
    "resolve_deal": (SERVICE, "med/service", {"deal_id": "doha-1"}),
    "publish_commitment": (IRAN, "iran/lead", {"label": "next steps agreed", "commitment": DIGEST.hex()}),
    "reveal_commitment": (IRAN, "iran/lead", {"commitment_id": MID, "salt": "ab" * 16, "content": "Muscat"}),
    # attestations and escrow (ADR-0017)
    "define_metric": (
        CHAIR,
        "med/chair",
        {
            "metric": "iaea.enrichment_pct",
            "unit": "%",
            "issue": "enrichment_cap_pct",
            "inspectors": ["iaea", "euratom"],
            "quorum": 2,
            "tolerance": 0.05,
            "tolerance_kind": "absolute",
            "window_seconds": 86400,
        },
    ),
    "file_attestation": (
        IRAN,
        "iran/lead",
        {"metric": "iaea.enrichment_pct", "value": 3.6, "unit": "%", "observed_at": T_TEXT, "site": "natanz"},
    ),
    "open_escrow": (CHAIR, "med/chair", {"terms": ESCROW_TERMS}),
    "sign_escrow_release": (IRAN, "iran/lead", {"escrow_id": "assets-1", "escrow_digest": DIGEST.hex()}),
    "release_escrow": (IRAN, "iran/lead", {"escrow_id": "assets-1"}),
    "expire_escrow": (SERVICE, "med/service", {"escrow_id": "assets-1"}),
    "draft_text": (CHAIR, "med/chair", {"doc": "framework", "title": "Framework", "text": "Art. 1\n\u2028é"}),
    "edit_text": (CHAIR, "med/chair", {"doc": "framework", "base_version": 3, "text": "Art. 1 (rev)\n"}),
    "set_text_policy": (CHAIR, "med/chair", {"policy": "shared"}),
    "comment_text": (IRAN, "iran/lead", {"doc": "framework", "version": 2, "text": "Too soon."}),
    "define_obligation": (
        CHAIR,
        "med/chair",
        {
            "obligation": "iran-enrichment",
            "party": "iran",
            "metric": "stockpile_kg",
            "unit": "kg",
            "rate": 5,
            "burst": 20.5,
            "period_seconds": 2592000,
            "ladder": ["none", "tier-1"],
            "hold_seconds": 1209600,
            "recovery_pct": 50,
            "shared_with": ["usa"],
        },
    ),
    "record_consumption": (
        SERVICE,
        "med/service",
        {
            "obligation": "iran-enrichment",
            "amount": 3.25,
            "unit": "kg",
            "observed_at": T_TEXT,
            "source": None,
        },
    ),
    "review_obligation": (SERVICE, "med/service", {"obligation": "iran-enrichment"}),
    # forecasts on the track (ADR-0045)
    "declare_actor_positions": (
        CHAIR,
        "med/chair",
        {
            "issues": [
                {
                    "issue": "enrichment_cap_pct",
                    "reference": None,
                    "actors": [
                        {"actor": "iran", "position": None, "value": 20.0, "salience": 90, "capability": 1}
                    ],
                }
            ]
        },
    ),
    "record_forecast": (
        SERVICE,
        "med/service",
        {
            "requested_by": "med/chair",
            "declarations": ["ab" * 32],
            "through": T_TEXT,
            "threshold": 40.0,
            "issues": [
                {
                    "issue": "enrichment_cap_pct",
                    "answers": [
                        {"model": "compromise", "value": 22.2},
                        {"model": "reference_point", "value": None},
                    ],
                    "spread": 0.0,
                    "low_model": "compromise",
                    "high_model": "compromise",
                }
            ],
        },
    ),
    "share_forecast": (CHAIR, "med/chair", {"forecast_id": "cd" * 32, "parties": ["iran"]}),
    # the coordination log (issue #12)
    "declare_dependency": (
        CHAIR,
        "med/chair",
        {
            "dependency_id": "d1",
            "waiter": "us-iran-nuclear#phase-2",
            "on_track": "israel-hezbollah-ceasefire",
            "kind": "deal_committed",
            "ref": "ceasefire-1",
        },
    ),
    "withdraw_dependency": (CHAIR, "med/chair", {"dependency_id": "d1", "reason": "phased"}),
    "record_dependency_met": (
        SERVICE,
        "med/service",
        {
            "dependency_id": "d1",
            "evidence": {
                "track": "israel-hezbollah-ceasefire",
                "log_index": 12,
                "event_type": "deal.committed",
            },
        },
    ),
    "register_resource": (
        CHAIR,
        "med/chair",
        {"resource_id": "person:usa/principal", "kind": "person", "capacity": 2},
    ),
    "book_resource": (
        CHAIR,
        "med/chair",
        {
            "booking_id": "b1",
            "resource": "person:usa/principal",
            "holder": "us-iran-nuclear",
            "start": T_TEXT,
            "end": "2026-03-01T12:00:00.000000Z",
            "priority": 3,
            "queue": True,
        },
    ),
    "cancel_booking": (CHAIR, "med/chair", {"booking_id": "b1"}),
}


def signed(name: str = "forward_message", **overrides: object) -> SignedCommand:
    key, member, body = BODIES[name]
    fields: dict = {
        "track": "talks",
        "command": name,
        "member": member,
        "body": copy.deepcopy(body),
        "issued_at": T,
        "nonce": "n0nce-0001",
        "idempotency_key": None,
        **overrides,
    }
    return sign_command(key, **fields)


def with_body(name: str, **changes: object) -> SignedCommand:
    """A signed command of ``name`` whose body has ``changes`` (a value of ``...`` drops the field)."""
    body = copy.deepcopy(BODIES[name][2])
    for field, value in changes.items():
        if value is ...:
            del body[field]
        else:
            body[field] = value
    return signed(name, body=body)


def from_payload(payload: object, sig: str | None = None) -> SignedCommand:
    return SignedCommand.from_dict({"payload": payload, "sig": sig or b64encode(b"\x00" * 64)})


def payload(**changes: object) -> dict:
    out = signed().to_dict()["payload"]
    for field, value in changes.items():
        if value is ...:
            del out[field]
        else:
            out[field] = value
    return out


# --------------------------------------------------------------------------------------------------
# Round trips, for every command
# --------------------------------------------------------------------------------------------------


def test_every_domain_command_has_a_body_layout() -> None:
    assert set(BODIES) == set(COMMAND_NAMES)
    assert len(COMMAND_NAMES) == 41  # 32 + the forecasts feature (ADR-0045) + coordination (ADR-0027)
    assert COMMAND_NAMES["open_track"] is OpenTrack
    assert COMMAND_NAMES["record_escalation"] is RecordEscalation


@pytest.mark.parametrize("name", sorted(BODIES))
def test_sign_to_json_from_dict_verify_round_trip(name: str) -> None:
    key = BODIES[name][0]
    original = signed(name, idempotency_key="retry-1")
    wire = json.dumps(original.to_dict(), indent=2)  # whitespace on the wire changes nothing
    again = SignedCommand.from_dict(loads_strict(wire))
    again.verify(key.verifying_key)
    assert again == original
    assert hash(again) == hash(original)
    assert again.canonical == original.canonical
    assert again.digest == original.digest
    assert again.to_dict() == original.to_dict()
    assert set(again.to_dict()) == {"payload", "sig"}
    assert (again.track, again.command, again.member, again.key_id) == (
        "talks",
        name,
        BODIES[name][1],
        key.key_id,
    )
    assert (again.nonce, again.idempotency_key, again.issued_at) == ("n0nce-0001", "retry-1", T)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_to_domain_builds_the_command_with_the_envelope(name: str) -> None:
    command = signed(name, idempotency_key="retry-1")
    domain = to_domain(command)
    assert type(domain) is COMMAND_NAMES[name]
    assert domain.digest == command.digest
    assert domain.digest == hashlib.sha256(command.canonical).digest()
    assert (domain.track, domain.member, domain.key_id) == ("talks", command.member, command.key_id)
    assert (domain.issued_at, domain.idempotency_key) == (T, "retry-1")


@pytest.mark.parametrize("name", sorted(BODIES))
def test_command_body_inverts_to_domain(name: str) -> None:
    command = signed(name)
    assert command_body(to_domain(command)) == command.payload["body"] == BODIES[name][2]


def _domain_commands() -> list:
    envelope = {
        "track": "x",
        "member": "a/b",
        "key_id": grant(9).key_id,
        "issued_at": T,
        "digest": b"\x07" * 32,
    }
    return [
        OpenTrack(**envelope, title="T", principal_key=grant(1, EXPIRES), service_key=grant(2)),
        AdmitParty(
            **envelope, party="usa", kind=PartyKind.WITNESS, principal="usa/x", principal_key=grant(3)
        ),
        EnrollMember(**envelope, new_member="usa/y", role=Role.OBSERVER, new_key=grant(4)),
        RotateKey(**envelope, subject="usa/y", old_key_id=grant(4).key_id, new_key=grant(5)),
        RevokeKey(**envelope, subject="usa/y", revoked_key_id=grant(5).key_id),
        ProposeAgenda(**envelope, agenda=AGENDA, agenda_digest=agenda_digest(AGENDA)),
        RatifyAgenda(**envelope, version=2, agenda_digest=b"\x01" * 32),
        SubmitMessage(**envelope, kind=MessageKind.QUESTION, body={"q": [1, 2.5, "x"]}),
        ForwardMessage(**envelope, message_id=MID, to_parties=("a", "b")),
        ReframeMessage(
            **envelope, message_id=MID, to_parties=("c",), body={}, annexes=(DIGEST,), agenda_version=1
        ),
        RecordReceipt(
            **envelope, items=(ReceiptItem(MID, 0),), receipt_digest=receipt_digest([ReceiptItem(MID, 0)])
        ),
        RecordDeadLetter(**envelope, message_id=MID, party="p", attempts=1, reason="r"),
        RecordEscalation(**envelope, message_id=MID, party="p", level=1, to=("p/q", "m/r")),
        DefineMetric(
            **envelope,
            metric="a.b",
            unit="kg",
            issue=None,
            inspectors=("i",),
            quorum=1,
            tolerance=0,
            tolerance_kind=ToleranceKind.RELATIVE,
            window_seconds=3600,
        ),
        FileAttestation(**envelope, metric="a.b", value=-1.5, unit="kg", observed_at=T, site="s1"),
        OpenEscrow(
            **envelope,
            terms=EscrowTerms.from_dict(ESCROW_TERMS),
            escrow_digest=escrow_digest(EscrowTerms.from_dict(ESCROW_TERMS)),
        ),
        SignEscrowRelease(**envelope, escrow_id="e", escrow_digest=DIGEST),
        ReleaseEscrow(**envelope, escrow_id="e"),
        ExpireEscrow(**envelope, escrow_id="e"),
        DefineObligation(
            **envelope,
            obligation="o",
            party="p",
            metric="m",
            unit="t",
            rate=0.5,
            burst=2,
            period_seconds=60,
            ladder=("a", "b", "c"),
            hold_seconds=1,
            recovery_pct=0,
        ),
        RecordConsumption(**envelope, obligation="o", amount=0, unit="t", observed_at=T, source="s"),
        ReviewObligation(**envelope, obligation="o"),
    ]


@pytest.mark.parametrize("command", _domain_commands(), ids=lambda c: type(c).__name__)
def test_a_domain_command_survives_the_wire_apart_from_its_envelope(command: object) -> None:
    (name,) = [n for n, t in COMMAND_NAMES.items() if t is type(command)]
    body = command_body(command)
    json.dumps(body)  # plain JSON: no tuples, mapping proxies or bytes
    wire = sign_command(
        IRAN, track="talks", command=name, member="iran/lead", body=body, issued_at=T, nonce="n" * 8
    )
    rebuilt = to_domain(SignedCommand.from_dict(json.loads(json.dumps(wire.to_dict()))))
    envelope = {
        "track": "talks",
        "member": "iran/lead",
        "key_id": IRAN.key_id,
        "issued_at": T,
        "digest": wire.digest,
    }
    assert rebuilt == dataclasses.replace(command, **envelope)


def test_to_domain_decodes_every_value_type() -> None:
    submit = to_domain(signed("submit_message"))
    assert isinstance(submit, SubmitMessage)
    assert submit.kind is MessageKind.PROPOSAL
    assert submit.priority is Priority.FLASH
    assert submit.annexes == (DIGEST, b"\xff" * 32)
    assert submit.in_reply_to == MID2
    assert submit.agenda_version == 2
    assert isinstance(submit.body, MappingProxyType)  # the domain froze it
    opened = to_domain(signed("open_track"))
    assert isinstance(opened, OpenTrack)
    assert opened.principal_key == grant(1)
    assert opened.service_key == grant(2, T)
    admitted = to_domain(signed("admit_party"))
    assert isinstance(admitted, AdmitParty)
    assert admitted.kind is PartyKind.DELEGATION
    enrolled = to_domain(signed("enroll_member"))
    assert isinstance(enrolled, EnrollMember)
    assert (enrolled.new_member, enrolled.role, enrolled.new_key) == (
        "iran/deputy",
        Role.DELEGATE,
        grant(4, T),
    )
    receipt = to_domain(signed("record_receipt"))
    assert isinstance(receipt, RecordReceipt)
    assert receipt.items == (ReceiptItem(MID2, 21), ReceiptItem(MID, 17))
    assert receipt.receipt_digest == RECEIPT_DIGEST


def test_propose_agenda_carries_the_agenda_and_its_computed_digest() -> None:
    proposal = to_domain(signed("propose_agenda"))
    assert isinstance(proposal, ProposeAgenda)
    assert proposal.agenda == AGENDA
    assert proposal.agenda_digest == agenda_digest(AGENDA)
    assert agenda_digest(AGENDA) == hashlib.sha256(rfc8785.dumps(AGENDA_JSON)).digest()
    ratify = to_domain(signed("ratify_agenda"))
    assert isinstance(ratify, RatifyAgenda)
    assert ratify.agenda_digest == proposal.agenda_digest


def test_receipt_digest_is_sha256_of_the_canonical_items_sorted_by_message_id() -> None:
    items = [ReceiptItem(MID2, 21), ReceiptItem(MID, 17)]
    assert receipt_digest(items) == RECEIPT_DIGEST == receipt_digest(reversed(items))
    assert receipt_digest([ReceiptItem(MID, 17)]) != receipt_digest([ReceiptItem(MID, 18)])
    with pytest.raises(EncodingError):
        receipt_digest([ReceiptItem(MID, 2**53)])


@pytest.mark.parametrize(
    "digest",
    [
        DIGEST.hex(),  # not the items' digest at all
        hashlib.sha256(rfc8785.dumps(RECEIPT_ITEMS)).hexdigest(),  # unsorted
        hashlib.sha256(rfc8785.dumps([[MID, 17]])).hexdigest(),  # not every item
    ],
)
def test_a_receipt_digest_that_is_not_the_items_digest_is_refused(digest: str) -> None:
    with pytest.raises(SchemaViolationError) as info:
        to_domain(with_body("record_receipt", receipt_digest=digest))
    ((field, rule),) = [(v.field, v.rule) for v in info.value.violations]
    assert (field, rule) == ("receipt_digest", "digest")
    assert str(info.value) == (
        "receipt_digest: expected SHA-256 of the RFC 8785 canonical JSON array of the items sorted by "
        f"message id ({RECEIPT_DIGEST.hex()}), got {digest}"
    )


def test_new_key_json_round_trip() -> None:
    key = grant(7, datetime(2027, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    data = new_key_to_dict(key)
    assert data == {
        "key_id": key.key_id,
        "ed25519": b64encode(key.ed25519),
        "x25519": b64encode(key.x25519),
        "expires_at": "2027-01-01T00:00:00.000000Z",
    }
    assert new_key_from_dict(data, "k") == key
    assert new_key_to_dict(grant(7))["expires_at"] is None
    assert new_key_from_dict(new_key_to_dict(grant(7)), "k") == grant(7)


# --------------------------------------------------------------------------------------------------
# The digest, the canonical bytes, the signed payload
# --------------------------------------------------------------------------------------------------


def test_the_digest_is_the_sha256_of_the_canonical_payload() -> None:
    for name in BODIES:
        command = signed(name)
        independent = rfc8785.dumps(command.to_dict()["payload"])
        assert command.canonical == independent
        assert command.digest == hashlib.sha256(independent).digest()
        signer = BODIES[name][0]
        signer.verifying_key.verify(command.signature, independent)


def test_golden_vector_pins_the_bytes() -> None:
    key = SigningKey.from_seed(bytes(32))
    command = sign_command(
        key,
        track="talks",
        command="forward_message",
        member="med/chair",
        body={"to_parties": ["usa"], "message_id": MID},
        issued_at=datetime(2026, 1, 31, 12, tzinfo=UTC),
        nonce="AbC-0123._~",
        idempotency_key="k:1",
    )
    assert command.canonical == (
        b'{"body":{"message_id":"' + MID.encode() + b'","to_parties":["usa"]},"command":"forward_message",'
        b'"idempotency_key":"k:1","issued_at":"2026-01-31T12:00:00.000000Z",'
        b'"key_id":"' + key.key_id.encode() + b'","member":"med/chair","nonce":"AbC-0123._~","track":"talks"}'
    )
    assert command.digest.hex() == hashlib.sha256(command.canonical).hexdigest()
    # Ed25519 is deterministic: the same payload and key always give these bytes
    assert command.signature == key.sign(command.canonical)
    assert command.to_dict()["sig"] == b64encode(command.signature)


def test_payload_is_what_was_signed_not_what_was_passed() -> None:
    body = {"message_id": MID, "to_parties": ("usa",), "weight": 1.0}
    command = sign_command(
        IRAN,
        track="talks",
        command="forward_message",
        member="iran/lead",
        body=body,
        issued_at=T,
        nonce="n" * 8,
    )
    assert command.payload["body"] == {"message_id": MID, "to_parties": ["usa"], "weight": 1}
    assert type(command.payload["body"]["weight"]) is int  # canonical JSON writes 1.0 as 1
    assert b'"weight":1}' in command.canonical
    body["message_id"] = MID2  # the caller's object is not aliased
    assert command.payload["body"]["message_id"] == MID
    out = command.to_dict()
    out["payload"]["body"]["to_parties"].append("iaea")  # nor is to_dict's
    assert command.payload["body"]["to_parties"] == ["usa"]
    command.verify(IRAN.verifying_key)


def test_issued_at_in_another_zone_is_sent_as_utc() -> None:
    local = T.astimezone(timezone(timedelta(hours=-5)))
    command = signed(issued_at=local)
    assert command.payload["issued_at"] == T_TEXT
    assert command.issued_at == T
    assert command.issued_at.utcoffset() == timedelta(0)


def test_equality_and_hash_follow_the_signed_bytes() -> None:
    a, b = signed(), signed()
    assert a == b
    assert len({a, b}) == 1
    other_nonce = signed(nonce="n0nce-0002")
    assert other_nonce != a
    forged = SignedCommand(a.payload, b"\x00" * 64)
    assert forged != a
    assert "payload=" in repr(a)
    assert "signature" not in repr(a)


# --------------------------------------------------------------------------------------------------
# Tampering and keys
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("track", "other-talks"),
        ("command", "record_escalation"),
        ("member", "med/staff"),
        ("key_id", SERVICE.key_id),
        ("issued_at", "2026-03-01T09:30:15.123457Z"),
        ("nonce", "n0nce-0002"),
        ("idempotency_key", "retry-2"),
        ("body", {"message_id": MID, "to_parties": ["usa"]}),
    ],
)
def test_any_payload_field_changed_after_signing_fails_verification(field: str, value: object) -> None:
    original = signed()
    wire = original.to_dict()
    wire["payload"][field] = value
    tampered = SignedCommand.from_dict(wire)
    key = SERVICE if field == "key_id" else CHAIR  # even the key the tampered payload names
    with pytest.raises(VerificationError, match="does not verify"):
        tampered.verify(key.verifying_key)


def test_a_changed_signature_fails_verification() -> None:
    original = signed()
    flipped = bytes([original.signature[0] ^ 1]) + original.signature[1:]
    with pytest.raises(VerificationError, match=r"forward_message [0-9a-f]{64}: the signature of med/chair"):
        SignedCommand(original.payload, flipped).verify(CHAIR.verifying_key)


def test_the_wrong_key_fails_verification() -> None:
    with pytest.raises(VerificationError, match=f"names key {CHAIR.key_id}, not {IRAN.key_id}"):
        signed().verify(IRAN.verifying_key)


def test_a_signature_by_another_key_under_a_named_key_fails() -> None:
    impostor = sign_command(
        IRAN,
        track="talks",
        command="forward_message",
        member="med/chair",
        body=BODIES["forward_message"][2],
        issued_at=T,
        nonce="n" * 8,
    )
    wire = impostor.to_dict()
    wire["payload"]["key_id"] = CHAIR.key_id
    signed_by_iran = SignedCommand(wire["payload"], IRAN.sign(rfc8785.dumps(wire["payload"])))
    with pytest.raises(VerificationError, match="does not verify"):
        signed_by_iran.verify(CHAIR.verifying_key)


# --------------------------------------------------------------------------------------------------
# Strictness: the outer object and the signature
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "signed command: expected a JSON object, got an array"),
        ("x", "signed command: expected a JSON object, got a string"),
        ({"payload": {}, "sig": "", "extra": 1}, "signed command: unknown field(s) extra"),
        ({"payload": {}}, "signed command: missing field(s) sig"),
        ({"sig": "x"}, "signed command: missing field(s) payload"),
        ({"payload": {}, "sig": None}, "sig: expected a string, got null"),
        ({"payload": {}, "sig": 12}, "sig: expected a string, got an integer"),
        ({"payload": {}, "sig": "not base64!"}, "sig: not valid base64"),
        ({"payload": {}, "sig": b64encode(b"\x00" * 63)}, "sig: expected 64 bytes, got 63"),
        ({"payload": {}, "sig": b64encode(b"\x00" * 64).replace("==", "=")}, "sig: not valid base64"),
        ({"payload": [], "sig": b64encode(b"\x00" * 64)}, "payload: expected a JSON object, got an array"),
        ({"payload": 1.5, "sig": b64encode(b"\x00" * 64)}, "payload: expected a JSON object, got a number"),
    ],
)
def test_the_outer_object_is_closed_and_typed(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=re.escape(message)):
        SignedCommand.from_dict(value)


@pytest.mark.parametrize("signature", [b"\x00" * 63, b"\x00" * 65, "00" * 64, None])
def test_a_signature_must_be_64_bytes(signature: object) -> None:
    with pytest.raises(EncodingError, match="sig: expected a 64-byte Ed25519 signature"):
        SignedCommand(signed().payload, signature)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Strictness: the payload
# --------------------------------------------------------------------------------------------------


def test_payload_fields_are_exactly_the_eight() -> None:
    assert set(signed().payload) == {
        "track",
        "command",
        "member",
        "key_id",
        "issued_at",
        "nonce",
        "idempotency_key",
        "body",
    }
    with pytest.raises(EncodingError, match=re.escape("payload: unknown field(s) payload.extra, payload.z")):
        from_payload(payload(extra=1, z=2))


@pytest.mark.parametrize(
    "field", ["track", "command", "member", "key_id", "issued_at", "nonce", "idempotency_key", "body"]
)
def test_every_payload_field_is_required(field: str) -> None:
    with pytest.raises(EncodingError, match=re.escape(f"payload: missing field(s) payload.{field}")):
        from_payload(payload(**{field: ...}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"command": 7}, "payload.command: expected a string, got an integer"),
        ({"command": "open_the_pod_bay_doors"}, "payload.command: unknown command 'open_the_pod_bay_doors'"),
        ({"command": "ForwardMessage"}, "payload.command: unknown command"),
        ({"track": None}, "payload.track: expected a string, got null"),
        ({"track": "Bad Track"}, "payload.track: 'Bad Track' does not match"),
        ({"member": "chair"}, "payload.member: 'chair' does not match party/name"),
        ({"member": ["med/chair"]}, "payload.member: expected a string, got an array"),
        ({"key_id": "ed25519:XYZ"}, "payload.key_id: 'ed25519:XYZ' does not match"),
        ({"key_id": True}, "payload.key_id: expected a string, got a boolean"),
        ({"idempotency_key": "has space"}, "payload.idempotency_key: 'has space' does not match"),
        ({"idempotency_key": 1}, "payload.idempotency_key: expected a string, got an integer"),
        ({"body": []}, "payload.body: expected a JSON object, got an array"),
        ({"body": None}, "payload.body: expected a JSON object, got null"),
        ({"nonce": 12345678}, "payload.nonce: expected a string, got an integer"),
        ({"nonce": "short77"}, "payload.nonce: expected 8 to 128 characters"),
        ({"nonce": "x" * 129}, "payload.nonce: expected 8 to 128 characters"),
        ({"nonce": "has space"}, "payload.nonce: expected 8 to 128 characters"),
        ({"nonce": "nonce/with/slash"}, "payload.nonce: expected 8 to 128 characters"),
        ({"issued_at": {"t": 1}}, "payload.issued_at: expected a string, got an object"),
        ({"issued_at": "2026-03-01T09:30:15"}, "payload.issued_at: expected a UTC timestamp"),
        ({"issued_at": "2026-03-01T09:30:15.1234567890Z"}, "payload.issued_at: expected a UTC timestamp"),
        ({"issued_at": "2026-03-01T09:30:60Z"}, "payload.issued_at: second must be in 0..59"),
        ({"issued_at": "2026-03-01 09:30:15.123456Z"}, "payload.issued_at: expected a UTC timestamp"),
        ({"issued_at": "2026-02-30T09:30:15.123456Z"}, "payload.issued_at: day is out of range"),
    ],
)
def test_payload_fields_are_typed_and_formed(changes: dict, message: str) -> None:
    with pytest.raises(EncodingError, match=re.escape(message)):
        from_payload(payload(**changes))


@pytest.mark.parametrize("nonce", ["a" * 8, "Z" * 128, "A-b_c.d~9"])
def test_nonce_bounds_and_alphabet(nonce: str) -> None:
    assert from_payload(payload(nonce=nonce)).nonce == nonce


@pytest.mark.parametrize(
    "body", [{"x": float("nan")}, {"x": 2**60}, {1: "non-text key"}, {"x": b"bytes"}, {"x": float("inf")}]
)
def test_the_payload_must_canonicalize(body: dict) -> None:
    with pytest.raises(EncodingError, match=r"^payload: "):
        from_payload(payload(body=body))
    with pytest.raises(EncodingError, match=r"^payload: "):
        signed(body=body)


def test_sign_command_refuses_a_naive_time_and_bad_fields() -> None:
    with pytest.raises(EncodingError, match="issued_at: expected a timezone-aware datetime"):
        signed(issued_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(EncodingError, match="payload.command: unknown command"):
        signed(command="nope")
    with pytest.raises(EncodingError, match="payload.nonce"):
        signed(nonce="short")
    with pytest.raises(EncodingError, match="payload.member"):
        signed(member="Med/Chair")


# --------------------------------------------------------------------------------------------------
# Strictness: bodies, as to_domain reads them
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BODIES))
def test_every_body_field_is_required_and_no_other_is_allowed(name: str) -> None:
    with pytest.raises(EncodingError, match=re.escape("body: unknown field(s) body.surprise")):
        to_domain(with_body(name, surprise=1))
    for field in BODIES[name][2]:
        with pytest.raises(EncodingError, match=re.escape(f"body: missing field(s) body.{field}")):
            to_domain(with_body(name, **{field: ...}))


def test_envelope_names_are_not_body_fields() -> None:
    # enroll_member's member and key are "new_member" and "new_key": "member" belongs to the envelope
    with pytest.raises(EncodingError, match=re.escape("body: unknown field(s) body.member")):
        to_domain(with_body("enroll_member", member="iran/deputy"))


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("open_track", {"title": 5}, "body.title: expected a string, got an integer"),
        ("admit_party", {"kind": 1}, "body.kind: expected a string, got an integer"),
        ("enroll_member", {"role": None}, "body.role: expected a string, got null"),
        ("rotate_key", {"old_key_id": []}, "body.old_key_id: expected a string, got an array"),
        ("revoke_key", {"subject": {}}, "body.subject: expected a string, got an object"),
        ("propose_agenda", {"agenda": [1]}, "body.agenda: expected a JSON object, got an array"),
        ("ratify_agenda", {"version": "2"}, "body.version: expected an integer, got a string"),
        ("ratify_agenda", {"version": True}, "body.version: expected an integer, got a boolean"),
        ("ratify_agenda", {"version": 2.5}, "body.version: expected an integer, got a number"),
        (
            "ratify_agenda",
            {"agenda_digest": "AB" * 32},
            "body.agenda_digest: expected 64 lowercase hex digits",
        ),
        (
            "ratify_agenda",
            {"agenda_digest": "ab" * 31},
            "body.agenda_digest: expected 64 lowercase hex digits",
        ),
        (
            "ratify_agenda",
            {"agenda_digest": "zz" * 32},
            "body.agenda_digest: expected 64 lowercase hex digits",
        ),
        (
            "ratify_agenda",
            {"agenda_digest": 7},
            "body.agenda_digest: expected 64 lowercase hex digits, got an integer",
        ),
        ("submit_message", {"body": "text"}, "body.body: expected a JSON object, got a string"),
        ("submit_message", {"priority": 1}, "body.priority: expected a string, got an integer"),
        ("submit_message", {"in_reply_to": 1}, "body.in_reply_to: expected a string, got an integer"),
        ("submit_message", {"annexes": "ab"}, "body.annexes: expected an array, got a string"),
        ("submit_message", {"annexes": {"0": MID}}, "body.annexes: expected an array, got an object"),
        ("submit_message", {"annexes": [MID, "nope"]}, "body.annexes.1: expected 64 lowercase hex digits"),
        ("submit_message", {"annexes": [None]}, "body.annexes.0: expected 64 lowercase hex digits, got null"),
        ("submit_message", {"agenda_version": "2"}, "body.agenda_version: expected an integer, got a string"),
        ("forward_message", {"to_parties": "usa"}, "body.to_parties: expected an array, got a string"),
        (
            "forward_message",
            {"to_parties": ["usa", 3]},
            "body.to_parties.1: expected a string, got an integer",
        ),
        ("forward_message", {"message_id": 3}, "body.message_id: expected a string, got an integer"),
        ("reframe_message", {"body": []}, "body.body: expected a JSON object, got an array"),
        (
            "record_receipt",
            {"items": None},
            "body.items: expected an array of [message_id, log_index] pairs",
        ),
        (
            "record_receipt",
            {"items": [[MID, "17"]]},
            "body.items.0: expected [message_id, log_index] (a string and an integer)",
        ),
        ("record_receipt", {"items": [[MID, 17, 0]]}, "body.items.0: expected [message_id, log_index]"),
        ("record_receipt", {"items": [MID, MID2]}, "body.items.0: expected [message_id, log_index]"),
        (
            "record_receipt",
            {"receipt_digest": DIGEST.hex()[:-1]},
            "body.receipt_digest: expected 64 lowercase",
        ),
        ("record_dead_letter", {"attempts": 1.0000001}, "body.attempts: expected an integer, got a number"),
        ("record_dead_letter", {"reason": None}, "body.reason: expected a string, got null"),
        ("record_escalation", {"level": None}, "body.level: expected an integer, got null"),
        ("record_escalation", {"to": "usa/lead"}, "body.to: expected an array, got a string"),
        ("record_escalation", {"to": [1]}, "body.to.0: expected a string, got an integer"),
    ],
)
def test_mistyped_body_fields_are_encoding_errors_naming_the_field(
    name: str, changes: dict, message: str
) -> None:
    with pytest.raises(EncodingError, match=re.escape(message)):
        to_domain(with_body(name, **changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"new_key": "key"}, "body.new_key: expected a JSON object, got a string"),
        ({"new_key": {**grant_json(4), "extra": 1}}, "body.new_key: unknown field(s) body.new_key.extra"),
        (
            {"new_key": {k: v for k, v in grant_json(4).items() if k != "x25519"}},
            "body.new_key: missing field(s) body.new_key.x25519",
        ),
        (
            {"new_key": {**grant_json(4), "key_id": 4}},
            "body.new_key.key_id: expected a string, got an integer",
        ),
        (
            {"new_key": {**grant_json(4), "ed25519": 4}},
            "body.new_key.ed25519: expected base64 text, got an integer",
        ),
        ({"new_key": {**grant_json(4), "ed25519": "%%%%"}}, "body.new_key.ed25519: not valid base64"),
        (
            {"new_key": {**grant_json(4), "x25519": b64encode(b"\x01" * 31)}},
            "body.new_key.x25519: expected 32 bytes, got 31",
        ),
        (
            {"new_key": {**grant_json(4), "x25519": grant_json(4)["x25519"].replace("=", "")}},
            "body.new_key.x25519: not valid base64",
        ),
        (
            {"new_key": {**grant_json(4), "x25519": bytes(grant(4).x25519).hex()}},
            "body.new_key.x25519",
        ),
        (
            {"new_key": {**grant_json(4), "expires_at": "2027-01-01"}},
            "body.new_key.expires_at: expected a UTC timestamp",
        ),
        (
            {"new_key": {**grant_json(4), "expires_at": 0}},
            "body.new_key.expires_at: expected a string, got an integer",
        ),
    ],
)
def test_malformed_keys_are_encoding_errors_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(EncodingError, match=re.escape(message)):
        to_domain(with_body("enroll_member", **changes))


def test_key_ids_not_derived_from_their_key_are_schema_violations_named_where_they_are() -> None:
    with pytest.raises(SchemaViolationError) as info:
        to_domain(with_body("open_track", principal_key={**grant_json(1), "key_id": grant(2).key_id}))
    ((field, rule),) = [(v.field, v.rule) for v in info.value.violations]
    assert (field, rule) == ("body.principal_key.key_id", "derived")
    assert str(info.value).startswith("body.principal_key.key_id: ")
    with pytest.raises(SchemaViolationError) as info:
        new_key_from_dict({**grant_json(1), "key_id": "ed25519:short"}, "k")
    assert [(v.field, v.rule) for v in info.value.violations] == [("k.key_id", "pattern")]
    assert str(info.value).startswith("k.key_id: ")


@pytest.mark.parametrize(
    ("name", "changes", "fields"),
    [
        ("admit_party", {"kind": "mediator"}, ["kind"]),
        ("admit_party", {"kind": "bogus"}, ["kind"]),
        ("enroll_member", {"role": "service"}, ["role"]),
        ("enroll_member", {"new_member": "iran/service"}, ["new_member"]),
        ("submit_message", {"kind": "rumour", "priority": "whenever"}, ["kind", "priority"]),
        ("submit_message", {"in_reply_to": "AB" * 32}, ["in_reply_to"]),
        ("submit_message", {"annexes": [MID, MID]}, ["annexes"]),
        ("submit_message", {"agenda_version": 0}, ["agenda_version"]),
        ("ratify_agenda", {"version": 0}, ["version"]),
        ("revoke_key", {"subject": "nobody", "revoked_key_id": "k"}, ["subject", "revoked_key_id"]),
        ("rotate_key", {"old_key_id": "ed25519:XY"}, ["old_key_id"]),
        ("forward_message", {"to_parties": []}, ["to_parties"]),
        ("forward_message", {"message_id": "xyz", "to_parties": ["USA"]}, ["message_id", "to_parties.0"]),
        ("record_receipt", {"items": [[MID, 1], [MID, -1]]}, ["items.1.log_index", "items.1.message_id"]),
        ("record_receipt", {"items": [], "receipt_digest": "00" * 32}, ["items"]),
        ("record_dead_letter", {"attempts": 0, "reason": ""}, ["attempts", "reason"]),
        ("record_escalation", {"level": 0, "to": ["nobody"]}, ["level", "to.0"]),
        ("record_escalation", {"to": []}, ["to"]),
        ("record_escalation", {"to": ["usa/lead", "usa/lead"]}, ["to"]),
        ("open_track", {"title": ""}, ["title"]),
    ],
)
def test_shape_errors_are_the_domains_schema_violations(name: str, changes: dict, fields: list) -> None:
    with pytest.raises(SchemaViolationError) as info:
        to_domain(with_body(name, **changes))
    assert [v.field for v in info.value.violations] == fields


def test_a_malformed_agenda_is_the_agendas_schema_violation() -> None:
    bad = copy.deepcopy(AGENDA_JSON)
    bad["issues"][0]["min"] = "zero"
    with pytest.raises(SchemaViolationError) as info:
        to_domain(with_body("propose_agenda", agenda=bad))
    assert [v.field for v in info.value.violations] == ["issues.0.min"]
    with pytest.raises(SchemaViolationError):
        to_domain(with_body("propose_agenda", agenda={"version": 1}))


def test_command_body_refuses_what_is_not_a_command() -> None:
    with pytest.raises(EncodingError, match="not a command: Agenda"):
        command_body(AGENDA)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Deals and commitments (issue #4)
# --------------------------------------------------------------------------------------------------


def test_the_deal_hash_is_sha256_of_the_canonical_terms() -> None:
    command = to_domain(signed("prepare_deal"))
    assert command.deal_hash == deal_hash(command.deal)
    assert command.deal_hash == hashlib.sha256(rfc8785.dumps(DEAL_JSON)).digest()
    assert command.deadline == T
    assert to_domain(signed("draft_deal")).deal_hash == command.deal_hash


def test_deal_and_commitment_bodies_are_checked() -> None:
    with pytest.raises(SchemaViolationError, match="title"):
        to_domain(with_body("prepare_deal", deal={**DEAL_JSON, "title": ""}))
    with pytest.raises(EncodingError, match="body.deadline"):
        to_domain(with_body("prepare_deal", deadline="tomorrow"))
    with pytest.raises(SchemaViolationError, match="vote"):
        to_domain(with_body("vote_deal", vote="maybe"))
    with pytest.raises(EncodingError, match="body.salt: expected bytes as lowercase hex"):
        to_domain(with_body("reveal_commitment", salt="ABC"))
    with pytest.raises(SchemaViolationError, match="salt: expected 16 to 64 bytes"):
        to_domain(with_body("reveal_commitment", salt="ab"))


@pytest.mark.parametrize(
    ("name", "field", "value", "message"),
    [
        ("define_obligation", "rate", "5", "body.rate: expected a number, got a string"),
        ("define_obligation", "burst", True, "body.burst: expected a number, got a boolean"),
        ("record_consumption", "amount", None, "body.amount: expected a number, got null"),
        ("record_consumption", "observed_at", "yesterday", "body.observed_at"),
        ("define_obligation", "ladder", "none", "body.ladder: expected an array"),
    ],
)
def test_obligation_bodies_are_typed(name: str, field: str, value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=re.escape(message)):
        to_domain(with_body(name, **{field: value}))


def test_obligation_commands_decode_their_values() -> None:
    define = to_domain(signed("define_obligation"))
    assert isinstance(define, DefineObligation)
    assert (define.rate, define.burst, define.ladder, define.shared_with) == (
        5,
        20.5,
        ("none", "tier-1"),
        ("usa",),
    )
    consumption = to_domain(signed("record_consumption"))
    assert isinstance(consumption, RecordConsumption)
    assert (consumption.amount, consumption.observed_at, consumption.source) == (3.25, T, None)
    with pytest.raises(SchemaViolationError, match="amount: 1e-07 is not a finite number with at most 6"):
        to_domain(with_body("record_consumption", amount=1e-7))


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-16T17:53:59Z", datetime(2026, 12, 16, 17, 53, 59, tzinfo=UTC)),
        ("2026-12-16T17:53:59.5Z", datetime(2026, 12, 16, 17, 53, 59, 500_000, tzinfo=UTC)),
        ("2026-12-16T17:53:59.123456Z", datetime(2026, 12, 16, 17, 53, 59, 123_456, tzinfo=UTC)),
        ("2026-12-16T17:53:59.123456789z", datetime(2026, 12, 16, 17, 53, 59, 123_456, tzinfo=UTC)),
        ("2026-12-16T19:53:59.999999999+02:00", datetime(2026, 12, 16, 17, 53, 59, 999_999, tzinfo=UTC)),
    ],
)
def test_issue_8_instants_are_read_as_rfc_3339_and_the_signed_payload_is_kept(
    text: str, instant: datetime
) -> None:
    command = from_payload(payload(issued_at=text))
    assert command.to_dict()["payload"]["issued_at"] == text  # what was signed stays as signed
    assert to_domain(command).issued_at == instant
    assert to_domain(command).issued_at.utcoffset() == timedelta(0)
