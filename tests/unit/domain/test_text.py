"""The negotiating text: drafts, edits refused when stale, the policy per role, private comments, diffs."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from track_world import MEMBERS, World

from backchannel.domain import event_from_dict, evolve, fold, visible_to
from backchannel.domain.agreements import text
from backchannel.domain.agreements.text_commands import CommentText, DraftText, EditText, SetTextPolicy
from backchannel.domain.agreements.text_events import TextCommented, TextDrafted, TextEdited, TextPolicySet
from backchannel.domain.agreements.text_model import (
    EMPTY_TEXTS,
    MAX_COMMENT_CHARS,
    MAX_DOCUMENTS,
    MAX_TEXT_CHARS,
    NO_NEWLINE,
    StaleVersionError,
    TextPolicy,
    UnknownDocumentError,
    text_digest,
    unified_diff,
)
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.errors import EncodingError

DRAFT = "Article 1. Iran caps enrichment at 3.67%.\nArticle 2. Sanctions relief, tier 1.\n"

# Who may draft and edit under each policy, and who may comment (under either).
MEDIATOR_ONLY_EDITORS = {"med/chair"}
SHARED_EDITORS = {"med/chair", "iran/lead", "iran/deputy", "usa/lead", "usa/aide"}
COMMENTERS = {"iran/lead", "iran/deputy", "usa/lead", "usa/aide"}


def draft(w: World, doc: str = "framework", by: str = "med/chair", body: str = DRAFT) -> list:
    return w.run(w.cmd(DraftText, by, doc=doc, title="Framework agreement", text=body))


def edit(w: World, base: int, body: str, doc: str = "framework", by: str = "med/chair") -> list:
    return w.run(w.cmd(EditText, by, doc=doc, base_version=base, text=body))


def set_policy(w: World, policy: str, by: str = "med/chair") -> list:
    return w.run(w.cmd(SetTextPolicy, by, policy=policy))


def comment(w: World, by: str, version: int = 1, doc: str = "framework", body: str = "Too soon.") -> list:
    return w.run(w.cmd(CommentText, by, doc=doc, version=version, text=body))


# --- drafts and edits ---------------------------------------------------------------------------


def test_a_text_is_drafted_then_edited_version_by_version(world: World) -> None:
    (drafted,) = draft(world)
    assert isinstance(drafted, TextDrafted)
    assert (drafted.doc, drafted.text_digest) == ("framework", text_digest(DRAFT))
    record = world.s.texts.document("framework")
    assert (record.title, record.current.version, record.current.base_version) == (
        "Framework agreement",
        1,
        None,
    )
    world.tick()
    (edited,) = edit(world, 1, DRAFT.replace("3.67", "3.5"))
    assert isinstance(edited, TextEdited)
    assert (edited.version, edited.base_version) == (2, 1)
    record = world.s.texts.document("framework")
    assert [v.version for v in record.versions] == [1, 2]
    assert record.version(1).text == DRAFT
    assert record.current.text == DRAFT.replace("3.67", "3.5")
    assert record.current.at == world.now
    assert fold(world.events).texts == world.s.texts  # replay gives the same texts


def test_a_stale_edit_is_refused_with_the_current_version_and_never_merged(world: World) -> None:
    draft(world)
    edit(world, 1, "version two\n")
    edit(world, 2, "version three\n")
    before = world.s
    with pytest.raises(StaleVersionError) as stale:
        edit(world, 2, "usa's edit on version 2\n")
    assert (stale.value.current, stale.value.doc) == (3, "framework")
    assert "based on version 2, but the current version is 3" in str(stale.value)
    assert world.s is before  # nothing applied
    with pytest.raises(StaleVersionError):
        edit(world, 4, "from the future\n")  # a version that does not exist yet is stale too


def test_edits_and_drafts_that_make_no_sense_are_refused(world: World) -> None:
    draft(world)
    with pytest.raises(TrackStateError, match="already drafted"):
        draft(world)
    with pytest.raises(TrackStateError, match="changes nothing"):
        edit(world, 1, DRAFT)
    with pytest.raises(UnknownDocumentError, match="no document 'nope'"):
        edit(world, 1, "x", doc="nope")


def test_a_track_holds_a_bounded_number_of_documents(world: World) -> None:
    for n in range(MAX_DOCUMENTS):
        draft(world, doc=f"doc-{n}")
    with pytest.raises(TrackStateError, match=f"already holds {MAX_DOCUMENTS} documents"):
        draft(world, doc="one-too-many")


# --- the policy, per role -----------------------------------------------------------------------


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("policy", ["mediator-only", "shared"])
def test_who_may_draft_and_edit_under_each_policy(world: World, member: str, policy: str) -> None:
    if policy == "shared":
        set_policy(world, "shared")
    draft(world, doc="base")
    allowed = (SHARED_EDITORS if policy == "shared" else MEDIATOR_ONLY_EDITORS) | set()
    if member in allowed:
        draft(world, doc="mine", by=member)
        edit(world, 1, "edited\n", doc="base", by=member)
        assert world.s.texts.document("base").current.by == member
        return
    with pytest.raises(NotAuthorizedError, match=f"under the {policy} text policy") as refused:
        draft(world, doc="mine", by=member)
    assert member in str(refused.value)
    with pytest.raises(NotAuthorizedError, match=f"under the {policy} text policy"):
        edit(world, 1, "edited\n", doc="base", by=member)
    assert "mine" not in world.s.texts.documents


@pytest.mark.parametrize("member", MEMBERS)
def test_only_the_mediator_principal_sets_the_policy(world: World, member: str) -> None:
    if member == "med/chair":
        (event,) = set_policy(world, "shared", by=member)
        assert isinstance(event, TextPolicySet)
        assert world.s.texts.policy is TextPolicy.SHARED
        with pytest.raises(TrackStateError, match="already shared"):
            set_policy(world, "shared")
        set_policy(world, "mediator-only")
        assert world.s.texts.policy is TextPolicy.MEDIATOR_ONLY
        return
    with pytest.raises(NotAuthorizedError, match="may not set the text policy"):
        set_policy(world, "shared", by=member)


def test_the_default_policy_is_mediator_only(world: World) -> None:
    assert world.s.texts == EMPTY_TEXTS
    assert world.s.texts.policy is TextPolicy.MEDIATOR_ONLY


# --- comments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("member", MEMBERS)
def test_delegation_principals_and_delegates_comment_under_either_policy(world: World, member: str) -> None:
    draft(world)
    for policy in ("mediator-only", "shared"):
        if policy == "shared":
            set_policy(world, "shared")
        if member in COMMENTERS:
            (event,) = comment(world, member)
            assert isinstance(event, TextCommented)
            continue
        with pytest.raises(NotAuthorizedError, match="may not comment on the negotiating text"):
            comment(world, member)


def test_a_comment_names_an_existing_version(world: World) -> None:
    draft(world)
    edit(world, 1, "two\n")
    comment(world, "iran/lead", version=1, body="v1 was better")
    comment(world, "usa/aide", version=2)
    with pytest.raises(UnknownDocumentError, match="has no version 3"):
        comment(world, "iran/lead", version=3)
    with pytest.raises(UnknownDocumentError, match="no document"):
        comment(world, "iran/lead", doc="other")
    comments = world.s.texts.document("framework").comments
    assert [(c.by, c.party, c.version) for c in comments] == [
        ("iran/lead", "iran", 1),
        ("usa/aide", "usa", 2),
    ]


def test_comments_are_private_to_the_mediator_and_the_commenting_party(world: World) -> None:
    draft(world)
    (iran_comment,) = comment(world, "iran/deputy", body="iran's private view")
    (usa_comment,) = comment(world, "usa/lead", body="usa's private view")
    state = world.s
    for member in MEMBERS:
        party = member.split("/")[0]
        assert visible_to(state, member, iran_comment) is (party in {"med", "iran"}), member
        assert visible_to(state, member, usa_comment) is (party in {"med", "usa"}), member
        readable = text.readable_by(state, member)
        assert readable is (party in {"med", "iran", "usa"}), member
        if readable:
            seen = {c.text for c in text.comments_for(state, member, "framework")}
            expected = {
                "med": {"iran's private view", "usa's private view"},
                "iran": {"iran's private view"},
                "usa": {"usa's private view"},
            }[party]
            assert seen == expected, member
    assert not text.readable_by(state, "nobody/at-all")


def test_the_text_is_shared_by_every_delegation_member_and_hidden_from_others(world: World) -> None:
    events = draft(world) + edit(world, 1, "two\n") + set_policy(world, "shared")
    for event in events:
        for member in MEMBERS:
            party = member.split("/")[0]
            assert visible_to(world.s, member, event) is (party in {"med", "iran", "usa"}), (
                member,
                event.type,
            )


# --- diffs --------------------------------------------------------------------------------------


def test_the_diff_between_two_versions(world: World) -> None:
    draft(world)
    edit(world, 1, DRAFT.replace("3.67%", "3.67% for 15 years"))
    edit(world, 2, DRAFT.replace("tier 1", "tier 2"))
    diff = text.diff_view(world.s, "framework", 1, 3)
    assert diff.startswith("--- framework@v1\n+++ framework@v3\n@@ ")
    assert "-Article 2. Sanctions relief, tier 1.\n+Article 2. Sanctions relief, tier 2.\n" in diff
    assert text.diff_view(world.s, "framework", 2, 2) == ""
    v3 = world.s.texts.document("framework").current.text
    assert apply_patch(v3, text.diff_view(world.s, "framework", 3, 1)) == DRAFT
    assert apply_patch(DRAFT, diff) == v3
    with pytest.raises(UnknownDocumentError, match="no version 9"):
        text.diff_view(world.s, "framework", 1, 9)


def test_a_last_line_without_a_newline_is_marked() -> None:
    diff = unified_diff("a\nb", "a\nc", from_label="x", to_label="y")
    assert diff == f"--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n{NO_NEWLINE}+c\n{NO_NEWLINE}"
    assert apply_patch("a\nb", diff) == "a\nc"
    assert apply_patch("a\n", unified_diff("a\n", "a", from_label="x", to_label="y")) == "a"


def apply_patch(source: str, diff: str) -> str:
    """Apply a unified diff to ``source``, checking every context and removed line (a strict applier)."""
    if not diff:
        return source
    pieces = source.split("\n")
    old = [line + "\n" for line in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    lines = [line + "\n" for line in diff.split("\n")[:-1]]
    assert lines[0].startswith("--- ")
    assert lines[1].startswith("+++ ")
    out: list[str] = []
    cursor = 0
    for i, line in enumerate(lines[2:], start=2):
        if line.startswith("@@ -"):
            first, _, count = line[4:].split(" ")[0].partition(",")
            start = int(first) if count == "0" else int(first) - 1  # an empty range names the line before
            assert start >= cursor
            out.extend(old[cursor:start])
            cursor = start
            continue
        if line == NO_NEWLINE:
            continue
        kind, content = line[0], line[1:]
        exact = content[:-1] if i + 1 < len(lines) and lines[i + 1] == NO_NEWLINE else content
        if kind in {" ", "-"}:
            assert old[cursor] == exact, (old[cursor], exact)
            cursor += 1
        if kind in {" ", "+"}:
            out.append(exact)
    out.extend(old[cursor:])
    return "".join(out)


_TEXTS = st.lists(st.sampled_from(["a", "b", "c\n", "\n", "\r\n", "\u2028", "é", " "]), max_size=40).map(
    "".join
)


@given(old=_TEXTS, new=_TEXTS, context=st.integers(0, 4))
def test_applying_the_diff_reproduces_the_target(old: str, new: str, context: int) -> None:
    diff = unified_diff(old, new, from_label="a", to_label="b", context=context)
    assert apply_patch(old, diff) == new
    assert (diff == "") is (old == new)


# --- shapes and encodings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "fields", "bad"),
    [
        (DraftText, {"doc": "Bad Id", "title": "t", "text": "x"}, "doc"),
        (DraftText, {"doc": 7, "title": "t", "text": "x"}, "doc"),
        (DraftText, {"doc": "d", "title": "", "text": "x"}, "title"),
        (DraftText, {"doc": "d", "title": "t", "text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        (DraftText, {"doc": "d", "title": "t", "text": "\ud800"}, "text"),
        (EditText, {"doc": "d", "base_version": 0, "text": "x"}, "base_version"),
        (EditText, {"doc": "d", "base_version": True, "text": "x"}, "base_version"),
        (SetTextPolicy, {"policy": "anyone"}, "policy"),
        (SetTextPolicy, {"policy": 3}, "policy"),
        (CommentText, {"doc": "d", "version": 1, "text": "x" * (MAX_COMMENT_CHARS + 1)}, "text"),
        (CommentText, {"doc": "d", "version": -1, "text": "x"}, "version"),
    ],
)
def test_malformed_commands_name_the_field(world: World, command: type, fields: dict, bad: str) -> None:
    with pytest.raises(SchemaViolationError) as refused:
        world.cmd(command, "med/chair", **fields)
    assert [v.field for v in refused.value.violations] == [bad]


def test_every_text_event_round_trips_and_decodes_strictly(world: World) -> None:
    events = draft(world) + edit(world, 1, "v2\n") + set_policy(world, "shared") + comment(world, "iran/lead")
    for event in events:
        data = json.loads(json.dumps(event.to_dict()))
        assert event_from_dict(data) == event
    drafted, edited = events[0].to_dict(), events[1].to_dict()
    with pytest.raises(EncodingError, match=r"text\.drafted\.text_digest: is not the SHA-256"):
        event_from_dict({**drafted, "text": "tampered"})
    with pytest.raises(EncodingError, match=r"text\.edited\.version: expected base_version \+ 1"):
        event_from_dict({**edited, "version": 5})
    with pytest.raises(EncodingError, match="lone surrogate"):
        event_from_dict({**drafted, "text": "\ud800"})
    with pytest.raises(EncodingError, match="doc"):
        event_from_dict({**drafted, "doc": "Not An Id"})


def test_applying_an_edit_of_an_unknown_document_cannot_happen(world: World) -> None:
    draft(world)
    (edited,) = edit(world, 1, "two\n")
    other = World()
    other.open()
    with pytest.raises(TrackStateError, match="cannot be applied"):
        evolve(other.s, edited)
