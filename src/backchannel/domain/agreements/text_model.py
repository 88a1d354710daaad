r"""The negotiating text's records, limits, errors and diff (no decisions; see :mod:`.text`).

A track holds up to :data:`MAX_DOCUMENTS` documents. Each has an id
(``[a-z0-9][a-z0-9._-]{0,63}``), a title, and versions 1, 2, ... whose text is
1 to :data:`MAX_TEXT_CHARS` characters. Comments (1 to
:data:`MAX_COMMENT_CHARS` characters) name the version they are about.

:func:`unified_diff` is a standard unified diff (stdlib :mod:`difflib`) of
two texts split at ``\n`` only: a last line without a newline is marked
``\ No newline at end of file`` as GNU diff does, so ``patch`` (or any
applier) reproduces the target exactly.

This module imports no other part of the domain but ids and errors, so the
track state can hold :class:`Texts` without an import cycle.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from backchannel.domain.errors import Violation
from backchannel.errors import DomainError

__all__ = [
    "EMPTY_TEXTS",
    "MAX_COMMENT_CHARS",
    "MAX_DOCUMENTS",
    "MAX_TEXT_CHARS",
    "MAX_TITLE_CHARS",
    "NO_NEWLINE",
    "DocumentRecord",
    "StaleVersionError",
    "TextComment",
    "TextPolicy",
    "TextVersion",
    "Texts",
    "UnknownDocumentError",
    "check_doc_id",
    "check_text",
    "text_digest",
    "unified_diff",
]

MAX_TEXT_CHARS = 65_536
"""The longest text of one version, in characters."""
MAX_TITLE_CHARS = 200
"""The longest document title."""
MAX_COMMENT_CHARS = 4_000
"""The longest comment."""
MAX_DOCUMENTS = 64
"""The most documents one track holds."""
NO_NEWLINE = "\\ No newline at end of file\n"
"""The diff marker after a last line that has no newline."""

_DOC = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class TextPolicy(StrEnum):
    """Who may draft and edit the track's texts."""

    MEDIATOR_ONLY = "mediator-only"
    """Only the mediator's principal; delegations comment privately to the mediator (the default)."""
    SHARED = "shared"
    """The mediator's principal, and every delegation's principals and delegates."""


class StaleVersionError(DomainError):
    """An edit names a base version that is not the document's current one (never merged).

    Attributes:
        doc: The document.
        current: Its current version, to rebase on.
    """

    def __init__(self, message: str, *, doc: str, current: int) -> None:
        """Create the error, carrying the current version."""
        super().__init__(message)
        self.doc = doc
        self.current = current


class UnknownDocumentError(DomainError):
    """No document of that id on the track, or no such version of it."""


def check_doc_id(value: object, field: str = "doc") -> list[Violation]:
    """Violations of a document id (empty when valid)."""
    if not isinstance(value, str):
        return [Violation(field, "type", f"{field}: expected text ([a-z0-9][a-z0-9._-]{{0,63}})")]
    if not _DOC.fullmatch(value):
        return [
            Violation(field, "pattern", f"{field}: {value[:80]!r} does not match [a-z0-9][a-z0-9._-]{{0,63}}")
        ]
    return []


def check_text(value: object, field: str, max_chars: int) -> list[Violation]:
    """Violations of a text of 1 to ``max_chars`` characters that UTF-8 can encode (empty when valid)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        return [Violation(field, "length", f"{field}: expected text of 1 to {max_chars} characters")]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return [Violation(field, "encoding", f"{field}: holds a lone surrogate, which UTF-8 cannot encode")]
    return []


def text_digest(text: str) -> bytes:
    """SHA-256 of the text's UTF-8 bytes (what a version's ``text_digest`` is)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class TextVersion:
    """One version of a document.

    Attributes:
        version: 1 for the draft, then +1 per edit.
        text: The whole text.
        digest: :func:`text_digest` of it.
        by: The member who drafted or edited it.
        at: When.
        base_version: The version the edit was based on (``None`` for the draft).
    """

    version: int
    text: str
    digest: bytes
    by: str
    at: datetime
    base_version: int | None


@dataclass(frozen=True, slots=True)
class TextComment:
    """A private comment to the mediator about one version of a document.

    Attributes:
        doc: The document.
        version: The version it is about.
        text: The comment.
        by: Its author (a delegation member).
        party: The author's party (who, with the mediator, may read it).
        at: When.
    """

    doc: str
    version: int
    text: str
    by: str
    party: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document: its versions (oldest first) and the comments on them.

    Attributes:
        doc: Its id.
        title: Its title.
        versions: Every version, 1 first.
        comments: Every comment, in log order.
    """

    doc: str
    title: str
    versions: tuple[TextVersion, ...]
    comments: tuple[TextComment, ...] = ()

    @property
    def current(self) -> TextVersion:
        """The latest version."""
        return self.versions[-1]

    def version(self, number: int) -> TextVersion:
        """Version ``number``.

        Raises:
            UnknownDocumentError: no such version.
        """
        if not 1 <= number <= len(self.versions):
            raise UnknownDocumentError(
                f"document {self.doc!r} has no version {number} (its versions are 1 to {len(self.versions)})"
            )
        return self.versions[number - 1]


@dataclass(frozen=True, slots=True)
class Texts:
    """The track's negotiating texts and their policy.

    Attributes:
        policy: Who may draft and edit.
        documents: Document id -> record, in drafting order.
    """

    policy: TextPolicy = TextPolicy.MEDIATOR_ONLY
    documents: Mapping[str, DocumentRecord] = field(default_factory=lambda: MappingProxyType({}))

    def document(self, doc: str) -> DocumentRecord:
        """The document of that id.

        Raises:
            UnknownDocumentError: no such document.
        """
        found = self.documents.get(doc)
        if found is None:
            raise UnknownDocumentError(f"no document {doc!r} on this track")
        return found


EMPTY_TEXTS = Texts()
"""No documents, the ``mediator-only`` policy: a track's texts before any text event."""


def _lines(text: str) -> list[str]:
    r"""Split at ``\n`` only, keeping each line's newline (the last line may have none)."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def unified_diff(old: str, new: str, *, from_label: str, to_label: str, context: int = 3) -> str:
    r"""A unified diff turning ``old`` into ``new`` (``""`` when they are equal).

    Lines are split at ``\n`` only (``\r``, ``\u2028`` and the like stay
    inside a line). A last line without a newline is followed by
    :data:`NO_NEWLINE`, so the diff applies exactly.
    """
    out: list[str] = []
    for line in difflib.unified_diff(
        _lines(old), _lines(new), fromfile=from_label, tofile=to_label, n=context, lineterm="\n"
    ):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n" + NO_NEWLINE)
    return "".join(out)
