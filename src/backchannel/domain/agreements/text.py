"""The negotiating text (Camp David single text): decide, apply and show the track's documents.

Rules (called by :func:`backchannel.domain.track.decide` after the common
steps: track, key, idempotency):

- **Editors.** Under ``mediator-only`` (the default) only the mediator's
  principal drafts and edits. Under ``shared``, delegations' principals and
  delegates may too. Anyone else: :class:`~backchannel.domain.errors.NotAuthorizedError`
  naming the policy.
- **draft_text** creates version 1 of a new document (a document id is
  drafted once: :class:`~backchannel.domain.errors.TrackStateError`; at most
  :data:`~.text_model.MAX_DOCUMENTS` per track).
- **edit_text** names the version it is based on. If that is not the current
  version, it is refused with :class:`~.text_model.StaleVersionError`, which
  carries the current version: an edit is never merged silently. An edit that
  changes nothing is refused (``TrackStateError``).
- **set_text_policy**: the mediator's principal; setting the policy in force
  is refused (``TrackStateError``).
- **comment_text**: a delegation's principal or delegate comments on an
  existing version, privately to the mediator, under either policy.
- Unknown documents and versions: :class:`~.text_model.UnknownDocumentError`.

**Visibility** (:func:`party_sees_text`, called by
:func:`~backchannel.domain.visibility.visible_to` for delegation and inspector
members; the mediator sees everything, witnesses nothing): the texts, their
edits and the policy are shared by every delegation of the track, whatever
the member's role; a comment is seen by the mediator and the commenting party
only. Inspectors see no text event.

This module reads no clock and does no I/O. Reads: who may read the texts
(:func:`readable_by`), which comments a member may read (:func:`comments_for`)
and the diff between two versions (:func:`diff_view`); the texts themselves
are :attr:`TrackState.texts <backchannel.domain.state.TrackState.texts>`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from backchannel.domain._rules import require, stamp
from backchannel.domain.agreements.text_commands import CommentText, DraftText, EditText, SetTextPolicy
from backchannel.domain.agreements.text_events import (
    TextCommented,
    TextDrafted,
    TextEdited,
    TextPolicySet,
)
from backchannel.domain.agreements.text_model import (
    MAX_DOCUMENTS,
    DocumentRecord,
    StaleVersionError,
    TextComment,
    TextPolicy,
    Texts,
    TextVersion,
    text_digest,
    unified_diff,
)
from backchannel.domain.errors import NotAuthorizedError, TrackStateError
from backchannel.domain.ids import PartyKind, Role, party_of
from backchannel.domain.state import TrackState

__all__ = [
    "TextCommand",
    "TextEvent",
    "apply_text",
    "comments_for",
    "decide_text",
    "diff_view",
    "party_sees_text",
    "readable_by",
]

TextCommand = DraftText | EditText | SetTextPolicy | CommentText
"""Any negotiating-text command."""
TextEvent = TextDrafted | TextEdited | TextPolicySet | TextCommented
"""Any negotiating-text event."""

_MEDIATOR = (PartyKind.MEDIATOR,)
_DELEGATION = (PartyKind.DELEGATION,)
_PARTY_EDITORS = (Role.PRINCIPAL, Role.DELEGATE)


def decide_text(state: TrackState, command: TextCommand, now: datetime) -> list[TextEvent]:
    """Decide a negotiating-text command (see the module docstring).

    Raises:
        NotAuthorizedError: the signer may not do this under the policy.
        StaleVersionError: an edit based on a version that is not the current one.
        UnknownDocumentError: no such document or version.
        TrackStateError: a document drafted twice, too many documents, an edit
            that changes nothing, or the policy already in force.
    """
    match command:
        case DraftText():
            return _draft(state, command, now)
        case EditText():
            return _edit(state, command, now)
        case SetTextPolicy():
            return _set_policy(state, command, now)
        case _:  # CommentText, the last text command
            return _comment(state, command, now)


def _require_editor(state: TrackState, member: str, action: str) -> None:
    record = state.member(member)
    kind = state.parties[record.party].kind
    policy = state.texts.policy
    if kind is PartyKind.MEDIATOR and record.role is Role.PRINCIPAL:
        return
    if policy is TextPolicy.SHARED and kind is PartyKind.DELEGATION and record.role in _PARTY_EDITORS:
        return
    who = (
        "the mediator's principal"
        if policy is TextPolicy.MEDIATOR_ONLY
        else "the mediator's principal or a delegation's principal or delegate"
    )
    raise NotAuthorizedError(
        f"{member} ({record.role} of {kind} party {record.party}) may not {action} under the "
        f"{policy} text policy: only {who} may"
    )


def _draft(state: TrackState, command: DraftText, now: datetime) -> list[TextEvent]:
    _require_editor(state, command.member, "draft texts")
    documents = state.texts.documents
    if command.doc in documents:
        raise TrackStateError(f"document {command.doc!r} was already drafted: edit it instead")
    if len(documents) >= MAX_DOCUMENTS:
        raise TrackStateError(
            f"track {state.track} already holds {MAX_DOCUMENTS} documents, the most allowed"
        )
    return [
        TextDrafted(
            **stamp(command, now),
            doc=command.doc,
            title=command.title,
            text=command.text,
            text_digest=text_digest(command.text),
        )
    ]


def _edit(state: TrackState, command: EditText, now: datetime) -> list[TextEvent]:
    _require_editor(state, command.member, "edit texts")
    current = state.texts.document(command.doc).current
    if command.base_version != current.version:
        raise StaleVersionError(
            f"edit of {command.doc!r} is based on version {command.base_version}, but the current version "
            f"is {current.version}: rebase on it (edits are never merged)",
            doc=command.doc,
            current=current.version,
        )
    if command.text == current.text:
        raise TrackStateError(f"the edit of {command.doc!r} changes nothing in version {current.version}")
    return [
        TextEdited(
            **stamp(command, now),
            doc=command.doc,
            version=current.version + 1,
            base_version=current.version,
            text=command.text,
            text_digest=text_digest(command.text),
        )
    ]


def _set_policy(state: TrackState, command: SetTextPolicy, now: datetime) -> list[TextEvent]:
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "set the text policy")
    if command.policy is state.texts.policy:
        raise TrackStateError(f"the text policy is already {command.policy}")
    return [TextPolicySet(**stamp(command, now), policy=command.policy)]


def _comment(state: TrackState, command: CommentText, now: datetime) -> list[TextEvent]:
    require(state, command.member, _DELEGATION, _PARTY_EDITORS, "comment on the negotiating text")
    state.texts.document(command.doc).version(command.version)
    return [TextCommented(**stamp(command, now), doc=command.doc, version=command.version, text=command.text)]


def apply_text(texts: Texts, event: TextEvent) -> Texts:
    """The texts after ``event`` (trusted: what :func:`decide_text` emitted).

    Raises:
        KeyError: the event names a document that does not exist
            (:func:`~backchannel.domain.evolve.evolve` reports it as a ``TrackStateError``).
    """
    match event:
        case TextDrafted():
            version = TextVersion(1, event.text, event.text_digest, event.by, event.at, None)
            record = DocumentRecord(event.doc, event.title, (version,))
        case TextEdited():
            record = texts.documents[event.doc]
            version = TextVersion(
                event.version, event.text, event.text_digest, event.by, event.at, event.base_version
            )
            record = replace(record, versions=(*record.versions, version))
        case TextPolicySet():
            return replace(texts, policy=event.policy)
        case _:  # TextCommented, the last text event
            record = texts.documents[event.doc]
            comment = TextComment(
                event.doc, event.version, event.text, event.by, party_of(event.by), event.at
            )
            record = replace(record, comments=(*record.comments, comment))
    return replace(texts, documents=MappingProxyType({**texts.documents, record.doc: record}))


def party_sees_text(state: TrackState, party: str, event: TextEvent) -> bool:
    """True if members of ``party`` (a delegation or inspector) may see ``event``."""
    if state.parties[party].kind is not PartyKind.DELEGATION:
        return False
    if isinstance(event, TextCommented):
        return party_of(event.by) == party
    return True


def readable_by(state: TrackState, member: str) -> bool:
    """True if ``member`` may read the track's texts (the mediator's members and delegations')."""
    record = state.members.get(member)
    return record is not None and state.parties[record.party].kind in {
        PartyKind.MEDIATOR,
        PartyKind.DELEGATION,
    }


def comments_for(state: TrackState, member: str, doc: str) -> tuple[TextComment, ...]:
    """The comments on ``doc`` that ``member`` may read: all for the mediator, its party's own otherwise.

    Raises:
        UnknownDocumentError: no such document.
    """
    record = state.texts.document(doc)
    reader = state.member(member)
    if state.parties[reader.party].kind is PartyKind.MEDIATOR:
        return record.comments
    return tuple(c for c in record.comments if c.party == reader.party)


def diff_view(state: TrackState, doc: str, old: int, new: int) -> str:
    """The unified diff from version ``old`` to version ``new`` of ``doc`` (``""`` if equal).

    Raises:
        UnknownDocumentError: no such document or version.
    """
    record = state.texts.document(doc)
    a, b = record.version(old), record.version(new)
    return unified_diff(a.text, b.text, from_label=f"{doc}@v{old}", to_label=f"{doc}@v{new}")
