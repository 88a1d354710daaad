"""The negotiating text feature: draft, edit, comment on a shared text, and set who may edit it.

Decisions, the fold and visibility are in :mod:`~backchannel.domain.agreements.text`.
Every delegation member sees drafts, edits and policy changes (inspectors
none); a comment is seen by the commenting party and the mediator only. This
module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import text
from backchannel.domain.agreements.text import TextEvent
from backchannel.domain.agreements.text_commands import CommentText, DraftText, EditText, SetTextPolicy
from backchannel.domain.agreements.text_events import TextCommented, TextDrafted, TextEdited, TextPolicySet
from backchannel.domain.registry import Feature, command, event

__all__ = ["TEXT"]


def _apply(draft: Draft, event: TextEvent) -> None:
    draft.texts = text.apply_text(draft.texts, event)


TEXT = Feature(
    "text",
    commands=(
        command(DraftText, "draft_text", text.decide_text),
        command(EditText, "edit_text", text.decide_text),
        command(SetTextPolicy, "set_text_policy", text.decide_text),
        command(CommentText, "comment_text", text.decide_text),
    ),
    events=(
        event(TextDrafted, _apply, text.party_sees_text),
        event(TextEdited, _apply, text.party_sees_text),
        event(TextPolicySet, _apply, text.party_sees_text),
        event(TextCommented, _apply, text.party_sees_text),
    ),
)
"""The negotiating text."""
