"""The role matrix: every command signed by a member of every party kind and role."""

import hashlib
from collections.abc import Callable

import pytest
from track_world import MEMBERS, World, agenda, agenda_digest, new_key, populate

from backchannel.domain import (
    AdmitParty,
    Command,
    EnrollMember,
    ForwardMessage,
    ProposeAgenda,
    RatifyAgenda,
    ReceiptItem,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    RevokeKey,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.errors import NotAuthorizedError, UnknownMessageError


def _forwarded(w: World) -> str:
    message = w.submit("iran/lead")
    w.forward(message, "usa")
    return message


def _pending_v2(w: World) -> None:
    w.propose(2)


def _no_setup(w: World) -> None:
    return None


CASES: dict[str, tuple[Callable[[World], object], Callable[[World, str, object], Command], set[str]]] = {
    "admit_party": (
        _no_setup,
        lambda w, m, _: w.cmd(
            AdmitParty,
            m,
            party="oman",
            kind="delegation",
            principal="oman/lead",
            principal_key=new_key("oman"),
        ),
        {"med/chair"},
    ),
    "enroll_member": (
        _no_setup,
        lambda w, m, _: w.cmd(EnrollMember, m, new_member="iran/new", role="delegate", new_key=new_key("n")),
        {"iran/lead"},
    ),
    "rotate_key": (
        _no_setup,
        lambda w, m, _: w.cmd(
            RotateKey,
            m,
            subject="iran/deputy",
            old_key_id=w.keys["iran/deputy"].key_id,
            new_key=new_key("d2"),
        ),
        {"iran/lead", "iran/deputy"},
    ),
    "revoke_key": (
        _no_setup,
        lambda w, m, _: w.cmd(
            RevokeKey, m, subject="iran/deputy", revoked_key_id=w.keys["iran/deputy"].key_id
        ),
        {"iran/lead", "iran/deputy"},
    ),
    "propose_agenda": (
        _no_setup,
        lambda w, m, _: w.cmd(ProposeAgenda, m, agenda=agenda(2), agenda_digest=agenda_digest(agenda(2))),
        {"med/chair"},
    ),
    "ratify_agenda": (
        _pending_v2,
        lambda w, m, _: w.cmd(RatifyAgenda, m, version=2, agenda_digest=agenda_digest(agenda(2))),
        {"iran/lead", "usa/lead"},
    ),
    "submit_message": (
        _no_setup,
        lambda w, m, _: w.cmd(SubmitMessage, m, kind="statement", body={"text": "hi"}),
        {"iran/lead", "iran/deputy", "usa/lead", "usa/aide"},
    ),
    "forward_message": (
        lambda w: w.submit("iran/lead"),
        lambda w, m, message: w.cmd(ForwardMessage, m, message_id=message, to_parties=("usa",)),
        {"med/chair", "med/service"},
    ),
    "reframe_message": (
        lambda w: w.submit("iran/lead"),
        lambda w, m, message: w.cmd(
            ReframeMessage, m, message_id=message, to_parties=("usa",), body={"t": 1}
        ),
        {"med/chair"},
    ),
    "record_receipt": (
        _forwarded,
        lambda w, m, message: w.cmd(
            RecordReceipt,
            m,
            items=(ReceiptItem(message, w.delivery_index(message, "usa")),),
            receipt_digest=hashlib.sha256(b"r").digest(),
        ),
        {"usa/lead", "usa/aide", "usa/watch"},
    ),
    "record_dead_letter": (
        _forwarded,
        lambda w, m, message: w.cmd(
            RecordDeadLetter, m, message_id=message, party="usa", attempts=5, reason="x"
        ),
        {"med/service"},
    ),
    "record_escalation": (
        _forwarded,
        lambda w, m, message: w.cmd(
            RecordEscalation, m, message_id=message, party="usa", level=1, to=("usa/aide",)
        ),
        {"med/service"},
    ),
}


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_role_matrix(case: str, member: str) -> None:
    setup, build, allowed = CASES[case]
    w = populate(World())
    context = setup(w)
    command = build(w, member, context)
    if member in allowed:
        assert w.decide(command), f"{member} should be allowed to {case}"
        return
    # a receipt for a message one cannot see is refused as unknown (its existence is not leaked)
    refused = (NotAuthorizedError, UnknownMessageError) if case == "record_receipt" else NotAuthorizedError
    with pytest.raises(refused) as info:
        w.decide(command)
    if isinstance(info.value, UnknownMessageError):
        assert member in {"swiss/lead", "iaea/lead"}


def test_refusals_name_the_signer_its_role_and_what_is_needed(world) -> None:
    with pytest.raises(NotAuthorizedError) as info:
        world.decide(world.cmd(SubmitMessage, "iran/watcher", kind="statement", body={}))
    assert str(info.value) == (
        "iran/watcher (observer of delegation party iran) may not send messages: "
        "only a delegate or principal of a delegation party may"
    )


def test_the_service_signs_no_receipts(world) -> None:
    message = _forwarded(world)
    command = world.cmd(
        RecordReceipt,
        "med/service",
        items=(ReceiptItem(message, world.delivery_index(message, "usa")),),
        receipt_digest=b"\x00" * 32,
    )
    with pytest.raises(NotAuthorizedError, match="med/service is the service"):
        world.decide(command)
