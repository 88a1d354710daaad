"""Reading the negotiating text: documents, versions, diffs and comments, per the reader (ADR-0020).

Writes are signed commands (``draft_text``, ``edit_text``, ``set_text_policy``,
``comment_text``) through the ordinary command path; this module only reads
the folded :attr:`~backchannel.domain.state.TrackState.texts`:

- the texts are read by the mediator's members and every delegation's members
  (:func:`~backchannel.domain.agreements.text.readable_by`); witnesses and
  inspectors get :class:`~backchannel.domain.errors.NotAuthorizedError`;
- comments are read by the mediator (all of them) and by the commenting
  party (its own), as :func:`~backchannel.domain.agreements.text.comments_for` says;
- an unknown document or version is :class:`~backchannel.errors.NotFoundError`.

This module does not decide commands and does not speak HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.domain import TrackState
from backchannel.domain.agreements import text
from backchannel.domain.agreements.text_model import (
    DocumentRecord,
    TextComment,
    TextPolicy,
    TextVersion,
    UnknownDocumentError,
)
from backchannel.domain.errors import NotAuthorizedError
from backchannel.errors import NotFoundError
from backchannel.service.tracks import TrackService

__all__ = ["TextService", "TextView"]


@dataclass(frozen=True, slots=True)
class TextView:
    """One version of a document, as a reader gets it.

    Attributes:
        document: The document (title, every version).
        version: The version asked for (the current one by default).
        policy: The track's text policy.
    """

    document: DocumentRecord
    version: TextVersion
    policy: TextPolicy


class TextService:
    """Serves the track's negotiating texts to the members allowed to read them.

    Args:
        service: The track service (its folded states hold the texts).
    """

    def __init__(self, service: TrackService) -> None:
        """Wrap the track service."""
        self._service = service

    def _readable(self, track: str, member: str) -> TrackState:
        state = self._service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        if not text.readable_by(state, member):
            raise NotAuthorizedError(
                f"{member}: only the mediator and the delegations read the negotiating text of {track}"
            )
        return state

    def documents(self, track: str, member: str) -> tuple[TextPolicy, tuple[DocumentRecord, ...]]:
        """The policy and every document, in drafting order.

        Raises:
            NotFoundError: no such track.
            NotAuthorizedError: ``member`` may not read the texts.
        """
        texts = self._readable(track, member).texts
        return texts.policy, tuple(texts.documents.values())

    def document(self, track: str, member: str, doc: str, version: int | None = None) -> TextView:
        """Version ``version`` (default: the current one) of ``doc``.

        Raises:
            NotFoundError: no such track, document or version.
            NotAuthorizedError: ``member`` may not read the texts.
        """
        texts = self._readable(track, member).texts
        try:
            record = texts.document(doc)
            found = record.current if version is None else record.version(version)
        except UnknownDocumentError as e:
            raise NotFoundError(str(e)) from e
        return TextView(record, found, texts.policy)

    def diff(self, track: str, member: str, doc: str, old: int, new: int) -> str:
        """The unified diff from version ``old`` to ``new`` of ``doc`` (``""`` when equal).

        Raises:
            NotFoundError: no such track, document or version.
            NotAuthorizedError: ``member`` may not read the texts.
        """
        state = self._readable(track, member)
        try:
            return text.diff_view(state, doc, old, new)
        except UnknownDocumentError as e:
            raise NotFoundError(str(e)) from e

    def comments(self, track: str, member: str, doc: str) -> tuple[TextComment, ...]:
        """The comments on ``doc`` that ``member`` may read (all for the mediator, its party's otherwise).

        Raises:
            NotFoundError: no such track or document.
            NotAuthorizedError: ``member`` may not read the texts.
        """
        state = self._readable(track, member)
        try:
            return text.comments_for(state, member, doc)
        except UnknownDocumentError as e:
            raise NotFoundError(str(e)) from e
