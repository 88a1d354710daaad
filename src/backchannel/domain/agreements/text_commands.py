"""The negotiating text's commands: ``draft_text``, ``edit_text``, ``set_text_policy``, ``comment_text``.

Each carries the signed envelope of every command
(:mod:`backchannel.domain.commands`) and checks the shape of its own fields
at construction, raising one
:class:`~backchannel.domain.errors.SchemaViolationError` listing every
malformed field. Whether it is *allowed* is :func:`.text.decide_text`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.domain.agreements.text_model import (
    MAX_COMMENT_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    TextPolicy,
    check_doc_id,
    check_text,
)
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation

__all__ = ["CommentText", "DraftText", "EditText", "SetTextPolicy"]


def _version(value: object, name: str) -> list[Violation]:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return [Violation(name, "minimum", f"{name}: expected an integer >= 1, got {value!r}")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftText(CommandEnvelope):
    """Create document ``doc`` with version 1 (an editor under the track's text policy)."""

    doc: str
    title: str
    text: str

    def _violations(self) -> list[Violation]:
        return (
            check_doc_id(self.doc)
            + check_text(self.title, "title", MAX_TITLE_CHARS)
            + check_text(self.text, "text", MAX_TEXT_CHARS)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EditText(CommandEnvelope):
    """Replace document ``doc``'s text, based on version ``base_version`` (which must be the current one)."""

    doc: str
    base_version: int
    text: str

    def _violations(self) -> list[Violation]:
        return (
            check_doc_id(self.doc)
            + _version(self.base_version, "base_version")
            + check_text(self.text, "text", MAX_TEXT_CHARS)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTextPolicy(CommandEnvelope):
    """Set who may draft and edit the track's texts (the mediator's principal)."""

    policy: TextPolicy

    def _violations(self) -> list[Violation]:
        value: object = self.policy
        allowed = sorted(p.value for p in TextPolicy)
        if not isinstance(value, str) or value not in allowed:
            return [Violation("policy", "one_of", f"policy: {value!r} is not one of {', '.join(allowed)}")]
        object.__setattr__(self, "policy", TextPolicy(value))
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentText(CommandEnvelope):
    """Comment privately to the mediator on version ``version`` of document ``doc`` (a delegation member)."""

    doc: str
    version: int
    text: str

    def _violations(self) -> list[Violation]:
        return (
            check_doc_id(self.doc)
            + _version(self.version, "version")
            + check_text(self.text, "text", MAX_COMMENT_CHARS)
        )
