"""The language aid for the mediator on a live track (issue #15 item 5, ADR-0045): a mediator-only read.

:class:`LanguageService` runs :class:`~backchannel.language.pipeline.LanguageAid`
(built once, on first use) over a text the mediator gives, or over a message
of the track the mediator may read, and optionally a reframing of it: the
escalation codes, suggested reframings, drift and blocked number changes.
Only a principal or delegate of the mediator party may ask; the analysis is
returned, never written to the log and never sent (a suggestion is only
ever sent when the mediator reframes with it, as any reframing).

This module does not speak HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from backchannel.domain import TrackState
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.language.pipeline import LanguageAid
from backchannel.service.forecasts import require_mediator_staff

__all__ = ["LanguageService", "message_text"]


def message_text(state: TrackState, message_id: str) -> str:
    """The text of message ``message_id`` (its body's ``text``).

    Raises:
        UnknownMessageError: no such message.
        SchemaViolationError: the message carries no text (e.g. a proposal of values only).
    """
    body = state.message(message_id).body
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SchemaViolationError(
            [Violation("message_id", "text", f"message_id: message {message_id} has no text to check")]
        )
    return text


class LanguageService:
    """Checks texts for the mediator (see the module docstring).

    Args:
        aid: Builds the language aid on first use (default: the built-in lexicon, rules and embedder).
    """

    def __init__(self, aid: Callable[[], LanguageAid] = LanguageAid) -> None:
        """Create the service; nothing is loaded until the first check."""
        self._build = aid
        self._aid: LanguageAid | None = None
        self._lock = threading.Lock()

    def aid(self) -> LanguageAid:
        """The language aid, built once."""
        with self._lock:
            if self._aid is None:
                self._aid = self._build()
            return self._aid

    def check(
        self,
        state: TrackState,
        member: str,
        *,
        text: str | None = None,
        message_id: str | None = None,
        reframed: str | None = None,
    ) -> dict[str, Any]:
        """The analysis of ``text`` (or of message ``message_id``'s text) and of ``reframed``.

        Raises:
            NotAuthorizedError: ``member`` is not a principal or delegate of the mediator.
            UnknownMessageError: no message ``message_id``.
            SchemaViolationError: the message has no text.
            EncodingError: a text is empty.
        """
        require_mediator_staff(state, member, "check a text with the language aid")
        original = message_text(state, message_id) if message_id is not None else text
        if original is None:  # the route asks for one of the two
            raise SchemaViolationError([Violation("text", "required", "text: give text or message_id")])
        document = self.aid().check(original, reframed).to_dict()
        if message_id is not None:
            document["message_id"] = message_id
        document["text"] = original
        return document
