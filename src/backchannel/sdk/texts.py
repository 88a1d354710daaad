"""The negotiating text (ADR-0020): ``client.texts``.

Drafts, edits, the edit policy, comments, and reads (a version's text is checked
against its digest).

This module does not merge edits: a stale base version is refused by the service.
"""

from __future__ import annotations

import hashlib
from typing import Any

from backchannel.errors import VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.sdk.session import Session

__all__ = ["TextsClient"]


class TextsClient:
    """The negotiating texts of one track, as one member sees them."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def draft(self, track: str, doc: str, text: str, *, title: str) -> dict[str, Any]:
        """Sign and send ``draft_text``: version 1 of a new document (see ``BackchannelClient.execute``)."""
        return self._session.execute("draft_text", {"doc": doc, "title": title, "text": text}, track=track)

    def edit(self, track: str, doc: str, text: str, *, base_version: int) -> dict[str, Any]:
        """Sign and send ``edit_text`` based on ``base_version``.

        Raises:
            ProblemError: 409 ``stale-text-version`` when ``base_version`` is not the current
                version; the problem's ``current`` names it (the edit is never merged).
        """
        body: dict[str, JSONValue] = {"doc": doc, "base_version": base_version, "text": text}
        return self._session.execute("edit_text", body, track=track)

    def set_policy(self, track: str, policy: str) -> dict[str, Any]:
        """Sign and send ``set_text_policy`` (``mediator-only`` or ``shared``; the mediator's principal)."""
        return self._session.execute("set_text_policy", {"policy": policy}, track=track)

    def comment(self, track: str, doc: str, text: str, *, version: int) -> dict[str, Any]:
        """Sign and send ``comment_text`` on ``version``: read by the mediator and this party only."""
        return self._session.execute(
            "comment_text", {"doc": doc, "version": version, "text": text}, track=track
        )

    def list_all(self, track: str) -> dict[str, Any]:
        """``GET .../texts``: ``{"policy", "documents": [{"doc", "title", "version", ...}]}``."""
        return self._session.get_json(f"/v1/tracks/{track}/texts")

    def get(self, track: str, doc: str, version: int | None = None) -> dict[str, Any]:
        """``GET .../texts/{doc}``: a version (default: the current one), its text digest checked.

        Raises:
            VerificationError: the text does not hash to the digest the service sent.
        """
        params = {} if version is None else {"version": version}
        answer = self._session.get_json(f"/v1/tracks/{track}/texts/{doc}", **params)
        if hashlib.sha256(str(answer["text"]).encode("utf-8")).hexdigest() != answer["text_digest"]:
            raise VerificationError(f"text {doc!r} v{answer['version']}: the text does not match its digest")
        return answer

    def diff(self, track: str, doc: str, old: int, new: int) -> str:
        """``GET .../texts/{doc}/diff?from=old&to=new``: a unified diff (``""`` when equal)."""
        answer = self._session.read_json(
            self._session.send("GET", f"/v1/tracks/{track}/texts/{doc}/diff", params={"from": old, "to": new})
        )
        return str(answer["diff"])

    def comments(self, track: str, doc: str) -> list[dict[str, Any]]:
        """``GET .../texts/{doc}/comments``: the comments this member may read."""
        return list(self._session.get_json(f"/v1/tracks/{track}/texts/{doc}/comments")["comments"])
