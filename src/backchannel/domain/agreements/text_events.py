"""The negotiating text's events and their strict JSON forms.

- ``text.drafted``: document ``doc`` created with version 1;
- ``text.edited``: version ``version`` of ``doc``, based on ``base_version`` (always ``version - 1``);
- ``text.policy_set``: the track's text policy changed;
- ``text.commented``: a private comment to the mediator on a version.

Drafts and edits carry the whole text and its SHA-256 (``text_digest``, 64
hex digits), which the decoder recomputes: a body whose digest does not match
its text is refused. Common fields and encodings are those of
:mod:`backchannel.domain.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain.agreements.text_model import (
    MAX_COMMENT_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    TextPolicy,
    check_doc_id,
    text_digest,
)
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["TEXT_EVENTS", "TextCommented", "TextDrafted", "TextEdited", "TextPolicySet"]


def _checked_digest(kind: str, text: str, digest: bytes) -> bytes:
    try:
        expected = text_digest(text)
    except UnicodeEncodeError as e:
        raise EncodingError(f"{kind}.text: holds a lone surrogate") from e
    if expected != digest:
        raise EncodingError(f"{kind}.text_digest: is not the SHA-256 of the text")
    return digest


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDrafted(Recorded):
    """Document ``doc`` was drafted by ``by``: its version 1."""

    type: ClassVar[str] = "text.drafted"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"doc", "title", "text", "text_digest"})
    doc: str
    title: str
    text: str
    text_digest: bytes

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "doc": self.doc,
            "title": self.title,
            "text": self.text,
            "text_digest": self.text_digest.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> TextDrafted:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            text = r.text("text", MAX_TEXT_CHARS)
            return cls(
                **common,
                doc=r.checked("doc", check_doc_id),
                title=r.text("title", MAX_TITLE_CHARS),
                text=text,
                text_digest=_checked_digest(cls.type, text, r.hex32("text_digest")),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TextEdited(Recorded):
    """Version ``version`` of ``doc``, edited by ``by`` on version ``base_version``."""

    type: ClassVar[str] = "text.edited"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"doc", "version", "base_version", "text", "text_digest"})
    doc: str
    version: int
    base_version: int
    text: str
    text_digest: bytes

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "doc": self.doc,
            "version": self.version,
            "base_version": self.base_version,
            "text": self.text,
            "text_digest": self.text_digest.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> TextEdited:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            text = r.text("text", MAX_TEXT_CHARS)
            version, base = r.integer("version", 2), r.integer("base_version", 1)
            if version != base + 1:
                raise EncodingError(
                    f"{cls.type}.version: expected base_version + 1 = {base + 1}, got {version}"
                )
            return cls(
                **common,
                doc=r.checked("doc", check_doc_id),
                version=version,
                base_version=base,
                text=text,
                text_digest=_checked_digest(cls.type, text, r.hex32("text_digest")),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPolicySet(Recorded):
    """The track's text policy is now ``policy``."""

    type: ClassVar[str] = "text.policy_set"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"policy"})
    policy: TextPolicy

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {**self.common_dict(), "policy": self.policy.value}

    @classmethod
    def from_dict(cls, value: JSONValue) -> TextPolicySet:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(**common, policy=r.kind("policy", TextPolicy))


@dataclass(frozen=True, slots=True, kw_only=True)
class TextCommented(Recorded):
    """``by`` commented privately to the mediator on version ``version`` of ``doc``."""

    type: ClassVar[str] = "text.commented"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"doc", "version", "text"})
    doc: str
    version: int
    text: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {**self.common_dict(), "doc": self.doc, "version": self.version, "text": self.text}

    @classmethod
    def from_dict(cls, value: JSONValue) -> TextCommented:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                doc=r.checked("doc", check_doc_id),
                version=r.integer("version", 1),
                text=r.text("text", MAX_COMMENT_CHARS),
            )


TEXT_EVENTS = (TextDrafted, TextEdited, TextPolicySet, TextCommented)
"""Every negotiating-text event type."""
