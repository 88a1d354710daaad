"""Visibility: the mediator sees all, witnesses see no event, delegations see what concerns them."""

import hashlib

import pytest
from track_world import MEMBERS

from backchannel.domain import MessageKind, RecordDeadLetter, RecordEscalation, visible_to
from backchannel.domain.visibility import annex_readable_by

PUBLIC_TYPES = {
    "track.opened",
    "party.admitted",
    "member.enrolled",
    "key.rotated",
    "key.revoked",
    "agenda.proposed",
    "agenda.ratified",
}


def scenario(world) -> dict[str, object]:
    """Named events: iran's message goes verbatim to usa and reframed to iaea; and so on."""
    start = len(world.events)
    original = world.submit("iran/lead", MessageKind.PROPOSAL)
    world.forward(original, "usa")
    world.reframe(original, "iaea", body={"values": {"snapback": True}}, agenda_version=1)
    reframed = world.events[-1].message_id
    world.receipt("usa/aide", original)
    world.run(
        world.cmd(RecordDeadLetter, "med/service", message_id=reframed, party="iaea", attempts=2, reason="x")
    )
    world.receipt("iaea/lead", reframed)  # late, after the dead letter
    usa_message = world.submit("usa/lead")
    world.forward(usa_message, "iaea")
    world.run(
        world.cmd(
            RecordEscalation,
            "med/service",
            message_id=usa_message,
            party="iaea",
            level=1,
            to=("iaea/lead", "med/chair"),
        )
    )
    unrelayed = world.submit("iran/lead")
    world.run(
        world.cmd(RecordDeadLetter, "med/service", message_id=unrelayed, party="med", attempts=3, reason="x")
    )
    names = [
        "submitted",
        "forwarded",
        "reframed",
        "receipt_usa",
        "dead_letter_iaea",
        "receipt_iaea",
        "usa_submitted",
        "usa_forwarded_iaea",
        "escalated_iaea",
        "unrelayed_submitted",
        "dead_letter_med",
    ]
    return dict(zip(names, world.events[start:], strict=True))


EXPECTED = {
    # event: parties (besides the mediator) that see it
    "submitted": {"iran"},
    "forwarded": {"iran", "usa"},
    "reframed": {"iaea"},  # the original's author does not see the reframing
    "receipt_usa": {"usa", "iran"},  # the recipient and the author of the message
    "receipt_iaea": {"iaea"},  # the reframed message's author is the mediator
    "dead_letter_iaea": {"iaea"},
    "usa_submitted": {"usa"},
    "usa_forwarded_iaea": {"usa", "iaea"},
    "escalated_iaea": {"iaea", "usa"},
    "unrelayed_submitted": {"iran"},
    "dead_letter_med": {"iran"},  # the sender learns the mediator did not relay it
}


@pytest.mark.parametrize("member", MEMBERS)
def test_visibility_matrix(world, member) -> None:
    named = scenario(world)
    party = member.partition("/")[0]
    for name, event in named.items():
        expected = party == "med" or party in EXPECTED[name]
        assert visible_to(world.s, member, event) is expected, (member, name)


@pytest.mark.parametrize("member", MEMBERS)
def test_public_metadata(world, member) -> None:
    public = [e for e in world.events if e.type in PUBLIC_TYPES]
    assert {e.type for e in public} == PUBLIC_TYPES - {"key.rotated", "key.revoked"}
    witness = member.startswith("swiss/")
    for event in public:
        assert visible_to(world.s, member, event) is not witness


def test_unknown_members_see_nothing(world) -> None:
    assert not visible_to(world.s, "iran/ghost", world.events[0])
    assert not visible_to(world.s, "oman/lead", world.events[0])


def test_events_about_unknown_messages_are_hidden(world) -> None:
    earlier = world.state  # does not hold the scenario's messages
    named = scenario(world)
    assert visible_to(world.s, "iran/lead", named["forwarded"])
    assert not visible_to(earlier, "iran/lead", named["forwarded"])  # the author is unknown there
    assert visible_to(earlier, "usa/lead", named["forwarded"])  # addressed to usa all the same
    assert not visible_to(earlier, "iran/lead", named["receipt_usa"])


def test_every_member_an_escalation_alerts_sees_it(world) -> None:
    """The alerted are members of the recipient party or the mediator: both see the event."""
    escalation = scenario(world)["escalated_iaea"]
    assert escalation.to == ("iaea/lead", "med/chair")
    for member in escalation.to:
        assert visible_to(world.s, member, escalation), member


def test_who_may_read_an_annex(world) -> None:
    """The uploaders' parties, the mediator, and the parties a message naming the annex went to."""
    forwarded, reframed, kept, orphan = (hashlib.sha256(n.encode()).digest() for n in "abcd")
    verbatim = world.submit("iran/lead", annexes=(forwarded, kept))
    world.forward(verbatim, "usa")
    unforwarded = world.submit("iran/deputy", annexes=(kept,))
    world.reframe(unforwarded, "iaea", annexes=(reframed,))
    readers = {
        # annex: parties besides the mediator that may read it (iran uploaded every one of them)
        forwarded: {"iran", "usa"},
        reframed: {"iran", "iaea"},  # the reframing carries it to iaea
        kept: {"iran", "usa"},  # usa got it with the forwarded message; the unforwarded one adds nobody
        orphan: {"iran"},  # named by no message
    }
    for digest, parties in readers.items():
        for member in MEMBERS:
            party = member.partition("/")[0]
            expected = party == "med" or party in parties
            assert annex_readable_by(world.s, member, digest, ("iran",)) is expected, (
                member,
                digest.hex()[:8],
            )
    assert not annex_readable_by(world.s, "iran/ghost", orphan, ("iran",))  # unknown members read nothing
    assert annex_readable_by(world.s, "swiss/lead", orphan, ("iran", "swiss"))  # a witness reads its own
