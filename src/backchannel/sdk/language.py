"""The language aid on a live track (ADR-0045): ``client.language``.

:meth:`LanguageClient.check` asks ``POST /v1/tracks/{track}/language/check``
for the analysis of a text or of a message, and optionally of a reframing:
escalation codes, suggestions, drift and blocked number changes. The
mediator's staff only; nothing is logged or sent.
"""

from __future__ import annotations

from typing import Any

from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.sdk.session import Session

__all__ = ["CHECK_TIMEOUT", "LanguageClient"]

CHECK_TIMEOUT = 120.0
"""Seconds a check may take: a server loads the embedding model on its first drift check."""


class LanguageClient:
    """Check texts before relaying or reframing them."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def check(
        self,
        track: str,
        text: str | None = None,
        *,
        message_id: str | None = None,
        reframed: str | None = None,
    ) -> dict[str, Any]:
        """The analysis of ``text`` (or of message ``message_id``), and of ``reframed`` if given.

        Returns:
            ``escalatory``, ``goldstein``, ``codes``, ``suggestions`` and, with
            ``reframed``, ``drift`` (``blocked`` when a number changed).

        Raises:
            ProblemError: 403 for anyone but the mediator's staff; 422 ``unknown-message``.
        """
        body: dict[str, JSONValue] = {}
        if text is not None:
            body["text"] = text
        if message_id is not None:
            body["message_id"] = message_id
        if reframed is not None:
            body["reframed"] = reframed
        path = f"/v1/tracks/{track}/language/check"
        response = self._session.send("POST", path, body=canonicalize(body), timeout=CHECK_TIMEOUT)
        return self._session.read_json(response)
