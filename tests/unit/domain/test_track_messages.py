"""Messages: submission, forwarding, reframing, receipts, dead letters, escalations and queues."""

import hashlib

import pytest
from track_world import populate

from backchannel.domain import (
    ForwardMessage,
    MessageForwarded,
    MessageKind,
    MessageReframed,
    MessageSubmitted,
    Priority,
    ReceiptItem,
    ReceiptRecorded,
    RecordDeadLetter,
    RecordEscalation,
    ReframeMessage,
    Route,
    SubmitMessage,
    fold,
)
from backchannel.domain.errors import (
    AgendaNotRatifiedError,
    InvalidRecipientError,
    NotAuthorizedError,
    SchemaViolationError,
    StaleAgendaError,
    TrackStateError,
    UnknownMemberError,
    UnknownMessageError,
    UnknownPartyError,
)


def test_submission_records_the_message(world) -> None:
    annex = hashlib.sha256(b"annex").digest()
    command = world.cmd(
        SubmitMessage,
        "iran/deputy",
        kind="question",
        body={"text": "when?"},
        priority="flash",
        annexes=(annex,),
    )
    (event,) = world.run(command)
    assert isinstance(event, MessageSubmitted)
    assert event.message_id == command.digest.hex()
    message = world.s.message(event.message_id)
    assert (message.author, message.party, message.kind, message.priority) == (
        "iran/deputy",
        "iran",
        MessageKind.QUESTION,
        Priority.FLASH,
    )
    assert (message.body, message.annexes, message.reframes, message.deliveries) == (
        {"text": "when?"},
        (annex,),
        None,
        {},
    )
    assert message.digest == command.digest
    with pytest.raises(UnknownMessageError, match="no message 00"):
        world.s.message("00" * 32)


def test_a_replayed_submission_is_refused(world) -> None:
    command = world.cmd(SubmitMessage, "iran/lead", kind="statement", body={})
    world.run(command)
    with pytest.raises(TrackStateError, match=f"message {command.digest.hex()} was already accepted"):
        world.decide(command)


def test_replies_must_name_a_message_the_sender_can_see(world) -> None:
    own = world.submit("iran/lead")
    other = world.submit("usa/lead")
    assert world.submit("iran/deputy", in_reply_to=own)
    with pytest.raises(UnknownMessageError, match=f"no message {other} visible to iran"):
        world.decide(world.cmd(SubmitMessage, "iran/lead", kind="answer", body={}, in_reply_to=other))
    with pytest.raises(UnknownMessageError):
        world.decide(world.cmd(SubmitMessage, "iran/lead", kind="answer", body={}, in_reply_to="00" * 32))
    world.forward(other, "iran")
    assert world.submit("iran/lead", MessageKind.ANSWER, in_reply_to=other)


def test_forwarding_delivers_verbatim(world) -> None:
    message = world.submit("iran/lead", MessageKind.PROPOSAL)
    (event,) = world.run(
        world.cmd(ForwardMessage, "med/chair", message_id=message, to_parties=("usa", "iaea"))
    )
    assert isinstance(event, MessageForwarded)
    deliveries = world.s.message(message).deliveries
    assert sorted(deliveries) == ["iaea", "usa"]
    assert deliveries["usa"].route is Route.FORWARDED
    assert deliveries["usa"].pending
    with pytest.raises(TrackStateError, match=f"message {message} was already delivered to usa"):
        world.decide(world.cmd(ForwardMessage, "med/service", message_id=message, to_parties=("usa",)))


@pytest.mark.parametrize(
    ("to", "error", "text"),
    [
        ("iran", InvalidRecipientError, "iran wrote the message"),
        ("swiss", InvalidRecipientError, "swiss is a witness party"),
        ("med", InvalidRecipientError, "med is a mediator party"),
        ("oman", UnknownPartyError, "party 'oman' is not part of track talks"),
    ],
)
def test_forwarding_recipients(world, to, error, text) -> None:
    message = world.submit("iran/lead")
    with pytest.raises(error, match=text):
        world.decide(world.cmd(ForwardMessage, "med/chair", message_id=message, to_parties=("usa", to)))
    with pytest.raises(error, match=text):
        world.decide(world.cmd(ReframeMessage, "med/chair", message_id=message, to_parties=(to,), body={}))


def test_forwarding_an_unknown_message(world) -> None:
    with pytest.raises(UnknownMessageError):
        world.decide(world.cmd(ForwardMessage, "med/chair", message_id="ab" * 32, to_parties=("usa",)))


def test_a_proposal_is_forwarded_only_while_its_agenda_is_current_and_ratified(world) -> None:
    message = world.submit("iran/lead", MessageKind.PROPOSAL)
    world.propose(2)
    with pytest.raises(StaleAgendaError, match="written against agenda version 1; the current version is 2"):
        world.decide(world.cmd(ForwardMessage, "med/chair", message_id=message, to_parties=("usa",)))
    statement = world.submit("iran/lead")
    world.forward(statement, "usa")  # statements are not held back


def test_reframing_creates_a_new_message_citing_the_original(world) -> None:
    original = world.submit("iran/lead", MessageKind.COUNTER_PROPOSAL, priority="priority")
    body = {"values": {"enrichment_cap_pct": 4.5}, "note": "softened"}
    command = world.cmd(
        ReframeMessage, "med/chair", message_id=original, to_parties=("usa",), body=body, agenda_version=1
    )
    (event,) = world.run(command)
    assert isinstance(event, MessageReframed)
    assert (event.message_id, event.reframes) == (command.digest.hex(), original)
    reframed = world.s.message(event.message_id)
    assert (reframed.author, reframed.party, reframed.kind, reframed.priority, reframed.reframes) == (
        "med/chair",
        "med",
        MessageKind.COUNTER_PROPOSAL,
        Priority.PRIORITY,
        original,
    )
    assert reframed.deliveries["usa"].route is Route.REFRAMED
    assert world.s.message(original).deliveries == {}
    with pytest.raises(TrackStateError, match="already accepted"):
        world.decide(command)
    # the original can still go verbatim to the same party
    world.forward(original, "usa")


def test_reframed_proposals_are_validated_against_the_agenda(world) -> None:
    original = world.submit("iran/lead", MessageKind.PROPOSAL)
    with pytest.raises(SchemaViolationError) as info:
        world.reframe(original, "usa", body={"values": {"snapback": "maybe"}}, agenda_version=1)
    assert [(v.field, v.rule) for v in info.value.violations] == [("snapback", "type")]
    with pytest.raises(SchemaViolationError, match="names its agenda version"):
        world.reframe(original, "usa", body={"values": {"snapback": True}})
    statement = world.submit("iran/lead")
    with pytest.raises(SchemaViolationError, match="names no agenda version"):
        world.reframe(statement, "usa", agenda_version=1)
    world.propose(2)
    with pytest.raises(AgendaNotRatifiedError):
        world.reframe(original, "usa", body={"values": {"snapback": True}}, agenda_version=2)


def test_receipts_settle_deliveries_and_duplicates_are_no_ops(world) -> None:
    first = world.submit("iran/lead")
    second = world.submit("iran/deputy")
    world.forward(first, "usa")
    world.forward(second, "usa", "iaea")
    delivered_at = world.s.version - 1  # the forward of the second message
    (event,) = world.receipt("usa/watch", first)
    assert isinstance(event, ReceiptRecorded)
    assert event.party == "usa"
    assert event.items == (ReceiptItem(first, world.s.message(first).deliveries["usa"].log_index),)
    settled = world.s.message(first).deliveries["usa"].settled
    assert (settled.by, settled.at, settled.receipt_digest) == ("usa/watch", world.now, event.receipt_digest)
    assert settled.sequence == settled.log_index == world.s.version - 1  # the receipt's own entry
    assert world.receipt("usa/lead", first) == []  # duplicate: nothing appended
    world.tick()
    (both,) = world.receipt("usa/aide", first, second)  # one new settlement makes it count
    assert world.s.message(first).deliveries["usa"].settled.by == "usa/watch"  # the first receipt stays
    assert world.s.message(first).deliveries["usa"].settled.sequence == settled.sequence
    assert world.s.message(second).deliveries["usa"].settled.by == "usa/aide"
    assert both.message_ids == (first, second)
    assert both.items[1] == ReceiptItem(second, delivered_at)
    assert world.s.message(second).deliveries["iaea"].pending


def test_deliveries_and_settlements_know_their_log_index(make_world) -> None:
    w = populate(make_world(log_offset=3))  # three entries before track.opened
    message = w.submit("iran/lead")
    w.forward(message, "usa")
    delivery = w.s.message(message).deliveries["usa"]
    assert delivery.log_index == delivery.sequence + 3 == w.s.log_index(delivery.sequence)
    w.receipt("usa/lead", message)
    settled = w.s.message(message).deliveries["usa"].settled
    assert settled.log_index == settled.sequence + 3 == w.s.version - 1 + 3
    assert fold(w.events, log_offset=3) == w.state


def test_a_receipt_must_name_each_delivery_log_index(make_world) -> None:
    w = populate(make_world(log_offset=1))
    first, second = w.submit("iran/lead"), w.submit("iran/lead")
    w.forward(first, "usa")
    w.forward(second, "usa")
    right = w.s.message(second).deliveries["usa"].log_index
    with pytest.raises(SchemaViolationError) as info:
        w.receipt("usa/lead", first, second, i1=right - 1)
    (violation,) = info.value.violations
    assert (violation.field, violation.rule) == ("items.1.log_index", "delivery_index")
    assert str(info.value) == (
        f"items.1.log_index: message {second} was delivered to usa at log index {right}, not {right - 1}"
    )
    # every wrong index is named, and nothing is settled
    with pytest.raises(SchemaViolationError) as info:
        w.receipt("usa/lead", first, second, i0=0, i1=right + 1)
    assert [v.field for v in info.value.violations] == ["items.0.log_index", "items.1.log_index"]
    assert w.s.pending_for("usa")
    # a wrong index is refused even when the message is already settled (no silent no-op)
    w.receipt("usa/lead", first)
    with pytest.raises(SchemaViolationError, match=r"items\.0\.log_index"):
        w.receipt("usa/aide", first, i0=right)


def test_a_reframed_message_is_receipted_at_the_reframing(world) -> None:
    original = world.submit("iran/lead")
    reframed = world.reframe(original, "usa")
    delivery = world.s.message(reframed).deliveries["usa"]
    assert delivery.log_index == world.s.message(reframed).sequence  # the reframe entry delivered it
    with pytest.raises(UnknownMessageError):
        world.receipt("usa/lead", original)  # usa never saw the original
    (event,) = world.receipt("usa/lead", reframed)
    assert event.items == (ReceiptItem(reframed, delivery.log_index),)


def test_receipts_only_from_recipients(world) -> None:
    message = world.submit("iran/lead")
    world.forward(message, "usa")
    with pytest.raises(NotAuthorizedError, match=f"message {message} was not delivered to iran"):
        world.receipt("iran/lead", message)
    with pytest.raises(UnknownMessageError, match="visible to iaea"):
        world.receipt("iaea/lead", message)
    with pytest.raises(UnknownMessageError):
        world.receipt("usa/lead", "cd" * 32)


def test_dead_letters(world) -> None:
    message = world.submit("iran/lead")
    world.forward(message, "usa")
    (event,) = world.run(
        world.cmd(
            RecordDeadLetter, "med/service", message_id=message, party="usa", attempts=5, reason="no receipt"
        )
    )
    dead = world.s.message(message).deliveries["usa"].dead_letter
    assert (dead.at, dead.attempts, dead.reason) == (world.now, 5, "no receipt")
    assert world.s.pending_for("usa") == ()
    with pytest.raises(TrackStateError, match=f"delivery of {message} to usa is already dead-lettered"):
        world.decide(
            world.cmd(
                RecordDeadLetter, "med/service", message_id=message, party="usa", attempts=6, reason="x"
            )
        )
    with pytest.raises(TrackStateError, match=f"message {message} was never delivered to iaea"):
        world.decide(
            world.cmd(
                RecordDeadLetter, "med/service", message_id=message, party="iaea", attempts=1, reason="x"
            )
        )
    # a late receipt still proves delivery
    world.receipt("usa/lead", message)
    assert world.s.message(message).deliveries["usa"].settled is not None
    assert event.to_dict()["reason"] == "no receipt"


def test_escalations_step_up_to_members_of_the_recipient_or_the_mediator(world) -> None:
    message = world.submit("iran/lead", priority="flash")
    world.forward(message, "usa")

    def escalate(level, *to):
        return world.cmd(RecordEscalation, "med/service", message_id=message, party="usa", level=level, to=to)

    (event,) = world.run(escalate(1, "usa/aide", "med/chair"))
    assert event.to == ("usa/aide", "med/chair")
    assert event.to_dict()["to"] == ["usa/aide", "med/chair"]
    delivery = world.s.message(message).deliveries["usa"]
    assert (delivery.escalation_level, delivery.escalated_to) == (1, ("usa/aide", "med/chair"))
    with pytest.raises(TrackStateError, match="escalation level 1 does not exceed the current level 1"):
        world.decide(escalate(1, "usa/lead"))
    world.run(escalate(2, "usa/lead"))
    world.run(escalate(4, "med/chair"))
    assert world.s.message(message).deliveries["usa"].escalation_level == 4
    assert world.s.message(message).deliveries["usa"].escalated_to == ("med/chair",)
    # every member alerted must qualify, not only the first
    with pytest.raises(InvalidRecipientError, match="iran/lead is neither in usa nor in the mediator party"):
        world.decide(escalate(5, "usa/lead", "iran/lead"))
    with pytest.raises(UnknownMemberError):
        world.decide(escalate(5, "med/chair", "usa/ghost"))
    world.receipt("usa/lead", message)
    with pytest.raises(TrackStateError, match="is already settled"):
        world.decide(escalate(5, "usa/lead"))


def test_a_new_delivery_has_alerted_nobody(world) -> None:
    message = world.submit("iran/lead", priority="flash")
    world.forward(message, "usa")
    delivery = world.s.message(message).deliveries["usa"]
    assert (delivery.escalation_level, delivery.escalated_to) == (0, ())


def test_pending_queue_order_is_priority_then_log_order(world) -> None:
    routine = world.submit("iran/lead")
    flash = world.submit("iran/lead", priority="flash")
    urgent = world.submit("iran/deputy", priority="priority")
    late_flash = world.submit("iran/deputy", priority="flash")
    world.forward(routine, "usa")
    world.forward(late_flash, "usa")
    world.forward(urgent, "usa")
    world.forward(flash, "usa")
    reframed = world.reframe(routine, "usa")
    order = [p.message.message_id for p in world.s.pending_for("usa")]
    assert order == [late_flash, flash, urgent, routine, reframed]
    assert world.s.pending_for("iaea") == ()
    world.receipt("usa/aide", flash)
    assert [p.message.message_id for p in world.s.pending_for("usa")] == [
        late_flash,
        urgent,
        routine,
        reframed,
    ]
    assert world.s.pending_for("usa")[0].order == (0, world.s.message(late_flash).deliveries["usa"].sequence)


def _give_up(world, message: str, party: str = "med"):
    return world.cmd(
        RecordDeadLetter, "med/service", message_id=message, party=party, attempts=3, reason="not relayed"
    )


def test_a_submission_the_mediator_never_relays_is_dead_lettered_in_its_queue(world) -> None:
    message = world.submit("iran/lead")
    (event,) = world.run(_give_up(world, message))
    assert event.party == "med"
    unrelayed = world.s.message(message).unrelayed
    assert (unrelayed.at, unrelayed.attempts, unrelayed.reason) == (world.now, 3, "not relayed")
    assert world.s.message(message).deliveries == {}
    with pytest.raises(
        TrackStateError, match=f"message {message} was already given up in the mediator's queue"
    ):
        world.decide(_give_up(world, message))
    # the mediator may still relay it later
    world.forward(message, "usa")
    assert "usa" in world.s.message(message).deliveries


def test_only_a_waiting_submission_can_be_dead_lettered_in_the_mediators_queue(world) -> None:
    forwarded = world.submit("iran/lead")
    world.forward(forwarded, "usa")
    with pytest.raises(TrackStateError, match=f"message {forwarded} was already relayed by the mediator"):
        world.decide(_give_up(world, forwarded))
    original = world.submit("iran/lead")
    command = world.cmd(ReframeMessage, "med/chair", message_id=original, to_parties=("usa",), body={"t": 1})
    (reframed,) = world.run(command)
    with pytest.raises(TrackStateError, match=f"message {original} was already relayed by the mediator"):
        world.decide(_give_up(world, original))
    with pytest.raises(TrackStateError, match="is the mediator's own: it never waits in its queue"):
        world.decide(_give_up(world, reframed.message_id))


def test_awaiting_relay_is_what_waits_in_the_mediators_queue(world) -> None:
    waiting = world.submit("iran/lead")
    forwarded = world.submit("iran/lead")
    world.forward(forwarded, "usa")
    reframed = world.submit("iran/lead")
    (reframing,) = world.run(
        world.cmd(ReframeMessage, "med/chair", message_id=reframed, to_parties=("usa",), body={"t": 1})
    )
    given_up = world.submit("iran/lead")
    world.run(_give_up(world, given_up))
    ids = {m.message_id for m in world.s.awaiting_relay()}
    assert waiting in ids
    assert ids.isdisjoint({forwarded, reframed, given_up, reframing.message_id})
    assert world.s.was_reframed(reframed)
    assert not world.s.was_reframed(waiting)
