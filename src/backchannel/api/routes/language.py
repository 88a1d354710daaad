"""``POST /v1/tracks/{track}/language/check``: the language aid for the mediator (issue #15, ADR-0045).

The body is ``{"text": ..., "reframed": ...?}`` or ``{"message_id": ...,
"reframed": ...?}``; the answer is the analysis document of
``backchannel language check --json`` (escalation codes, suggestions, drift
with blocked number changes). Principals and delegates of the mediator only
(anyone else 403 naming the rule); nothing is written to the log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backchannel.api.context import ApiContext, read_body, threaded
from backchannel.errors import EncodingError
from backchannel.log.canonical import loads_strict

__all__ = ["router"]

_MAX_TEXT = 20_000
_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": _MAX_TEXT},
        "message_id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "reframed": {"type": ["string", "null"], "minLength": 1, "maxLength": _MAX_TEXT},
    },
}


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.post(
        "/v1/tracks/{track}/language/check",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_SCHEMA}}}
        },
    )
    async def post_language_check(track: str, request: Request) -> JSONResponse:
        """Escalation flags, suggestions, drift and number changes of a text (the mediator's staff only)."""
        body = await read_body(request)
        return JSONResponse(await threaded(_check, ctx, request, track, body))

    return router


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not len(value.strip()) > 0 or len(value) > _MAX_TEXT:
        raise EncodingError(f"body.{name}: expected text of 1 to {_MAX_TEXT} characters")
    return value


def _check(ctx: ApiContext, request: Request, track: str, body: bytes) -> dict[str, Any]:
    state, reader = ctx.auth.reader(request, track, body)
    data = loads_strict(body)
    if not isinstance(data, dict) or not set(data) <= {"text", "message_id", "reframed"}:
        raise EncodingError("a language check is a JSON object of text or message_id, and reframed")
    text, message_id, reframed = _text(data, "text"), _text(data, "message_id"), _text(data, "reframed")
    if (text is None) == (message_id is None):
        raise EncodingError("a language check names exactly one of text and message_id")
    return ctx.language.check(state, reader.member, text=text, message_id=message_id, reframed=reframed)
