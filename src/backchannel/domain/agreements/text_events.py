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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar, TypeAlias, cast

from backchannel.domain._event_base import Recorded
from backchannel.domain.agreements.text_model import (
    MAX_COMMENT_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    TextPolicy,
    check_doc_id,
    text_digest,
)
from backchannel.domain.codec import Checked, Integer, Text
from backchannel.errors import EncodingError

__all__ = ["TEXT_EVENTS", "TextCommented", "TextDrafted", "TextEdited", "TextPolicySet"]


DocId: TypeAlias = Annotated[str, Checked(check_doc_id)]
"""A document id field (:func:`check_doc_id`)."""


def _check_digest(kind: str, values: Mapping[str, object]) -> None:
    try:
        expected = text_digest(str(values["text"]))
    except UnicodeEncodeError as e:
        raise EncodingError(f"{kind}.text: holds a lone surrogate") from e
    if expected != values["text_digest"]:
        raise EncodingError(f"{kind}.text_digest: is not the SHA-256 of the text")


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDrafted(Recorded):
    """Document ``doc`` was drafted by ``by``: its version 1."""

    type: ClassVar[str] = "text.drafted"
    doc: DocId
    title: Annotated[str, Text(MAX_TITLE_CHARS)]
    text: Annotated[str, Text(MAX_TEXT_CHARS)]
    text_digest: bytes

    @classmethod
    def check_decoded(cls, values: Mapping[str, object]) -> None:
        """The digest must be the text's."""
        _check_digest(cls.type, values)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextEdited(Recorded):
    """Version ``version`` of ``doc``, edited by ``by`` on version ``base_version``."""

    type: ClassVar[str] = "text.edited"
    doc: DocId
    version: Annotated[int, Integer(2)]
    base_version: Annotated[int, Integer(1)]
    text: Annotated[str, Text(MAX_TEXT_CHARS)]
    text_digest: bytes

    @classmethod
    def check_decoded(cls, values: Mapping[str, object]) -> None:
        """The version must follow the base version, and the digest must be the text's."""
        version, base = values["version"], cast("int", values["base_version"])
        if version != base + 1:
            raise EncodingError(f"{cls.type}.version: expected base_version + 1 = {base + 1}, got {version}")
        _check_digest(cls.type, values)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPolicySet(Recorded):
    """The track's text policy is now ``policy``."""

    type: ClassVar[str] = "text.policy_set"
    policy: TextPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class TextCommented(Recorded):
    """``by`` commented privately to the mediator on version ``version`` of ``doc``."""

    type: ClassVar[str] = "text.commented"
    doc: DocId
    version: Annotated[int, Integer(1)]
    text: Annotated[str, Text(MAX_COMMENT_CHARS)]


TEXT_EVENTS = (TextDrafted, TextEdited, TextPolicySet, TextCommented)
"""Every negotiating-text event type."""
