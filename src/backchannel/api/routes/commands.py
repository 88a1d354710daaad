"""``POST /v1/tracks/{track}/commands``, ``.../commands/batch`` and ``.../commands/batch-signed``.

One command, or a batch of one member's commands decided in order and appended
together (group commit, :class:`~backchannel.service.committer.GroupCommitter`).
A batch-signed batch (ADR-0051) is one member's batch under one signature over
the Merkle root of its command digests: its shape and its one signature are
checked first (:mod:`backchannel.service.batch`), then each command runs as
any other. The RFC 9421 signer must be the commands' member (:mod:`backchannel.api.auth`).

This module does not decide commands (the track and delivery services do).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backchannel.api.context import (
    MAX_BATCH_BODY_BYTES,
    MAX_BATCH_COMMANDS,
    MAX_BODY_BYTES,
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.errors import problem_for
from backchannel.api.schemas import (
    BatchItemModel,
    BatchResponse,
    CommandResponse,
)
from backchannel.errors import BackchannelError, EncodingError
from backchannel.log.canonical import loads_strict
from backchannel.protocol.wire import SignedCommand
from backchannel.service.batch import check_batch, verify_batch
from backchannel.service.committer import Outcome
from backchannel.service.tracks import CommandResult

__all__ = ["router"]

_B64 = {"type": "string", "contentEncoding": "base64"}
_BATCH_SIGNED_SCHEMA = {
    "type": "object",
    "description": "One member's whole batch, signed once (ADR-0051): command i is leaf i",
    "required": ["commands"],
    "additionalProperties": False,
    "properties": {
        "commands": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH_COMMANDS,
            "items": {
                "type": "object",
                "required": ["payload", "batch"],
                "additionalProperties": False,
                "properties": {
                    "payload": {"$ref": "#/components/schemas/CommandPayloadModel"},
                    "batch": {
                        "type": "object",
                        "required": ["root", "index", "size", "path", "signature"],
                        "additionalProperties": False,
                        "properties": {
                            "root": _B64,
                            "index": {"type": "integer", "minimum": 0},
                            "size": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH_COMMANDS},
                            "path": {"type": "array", "maxItems": 10, "items": _B64},
                            "signature": _B64,
                        },
                    },
                },
            },
        }
    },
}
_BATCH_SIGNED_BODY = {"required": True, "content": {"application/json": {"schema": _BATCH_SIGNED_SCHEMA}}}


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.post(
        "/v1/tracks/{track}/commands",
        response_model=CommandResponse,
        status_code=201,
        responses={200: {"model": CommandResponse, "description": "An idempotent retry: the first result"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignedCommand"}}},
            },
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
            ],
        },
    )
    async def post_command(track: str, request: Request) -> JSONResponse:
        """Run one signed command."""
        body = await read_body(request, MAX_BODY_BYTES)
        signed = await threaded(_parse_command, ctx, request, track, body)
        [outcome] = await _run(ctx, [signed])
        status, response = _command_response(outcome)
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @router.post(
        "/v1/tracks/{track}/commands/batch",
        response_model=BatchResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequestModel"}}
                },
            }
        },
    )
    async def post_batch(track: str, request: Request) -> BatchResponse:
        """Run many signed commands of one member, in order, in shared appends (group commit).

        Each command is decided as if sent alone, against the state the ones before
        it leave; each gets its own status and result or problem. The request is
        refused whole (and nothing runs) if it is malformed, mixes members or tracks,
        or is not signed by the commands' member.
        """
        body = await read_body(request, MAX_BATCH_BODY_BYTES)
        commands = await threaded(_parse_batch, ctx, request, track, body)
        outcomes = await _run(ctx, commands)
        path = request.url.path
        return BatchResponse(results=[_batch_item(o, f"{path}#{i}") for i, o in enumerate(outcomes)])

    @router.post(
        "/v1/tracks/{track}/commands/batch-signed",
        response_model=BatchResponse,
        openapi_extra={"requestBody": _BATCH_SIGNED_BODY},
    )
    async def post_batch_signed(track: str, request: Request) -> BatchResponse:
        """Run one member's batch signed once (ADR-0051): ``{"commands": [...]}``, each with its proof.

        The whole batch, in order (command ``i`` is leaf ``i``), is refused before
        anything runs if it mixes authors, keys or tracks, repeats a command, is
        larger than 1024 or incomplete, or if a path or the one signature does not
        verify; each error names the field and the rule. Then each command is
        decided and appended as its own entry, carrying its proof, exactly as
        ``.../commands/batch`` runs them.
        """
        body = await read_body(request, MAX_BATCH_BODY_BYTES)
        commands = await threaded(_parse_batch_signed, ctx, request, track, body)
        outcomes = await _run(ctx, commands)
        path = request.url.path
        return BatchResponse(results=[_batch_item(o, f"{path}#{i}") for i, o in enumerate(outcomes)])

    return router


def _parse_command(ctx: ApiContext, request: Request, track: str, body: bytes) -> SignedCommand:
    """Decode and authenticate one signed command (the RFC 9421 signer must be its member)."""
    try:
        signed = SignedCommand.from_dict(loads_strict(body))
    except EncodingError as e:
        raise EncodingError(f"request body is not a signed command: {e}") from e
    if signed.track != track:
        raise EncodingError(f"the command is for track {signed.track!r}, not {track!r}")
    header = request.headers.get("idempotency-key")
    if header is not None and header != signed.idempotency_key:
        raise EncodingError(
            f"Idempotency-Key header {header[:130]!r} differs from the command's idempotency_key"
        )
    ctx.auth.command(request, signed, body)
    return signed


def _parse_batch(ctx: ApiContext, request: Request, track: str, body: bytes) -> list[SignedCommand]:
    """Decode and authenticate a batch: every command is the RFC 9421 signer's, for this track."""
    data = loads_strict(body)
    if not isinstance(data, dict) or set(data) != {"commands"}:
        raise EncodingError("a batch is a JSON object with exactly one field, 'commands'")
    items = data["commands"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_COMMANDS:
        raise EncodingError(f"commands: expected a list of 1 to {MAX_BATCH_COMMANDS} signed commands")
    commands: list[SignedCommand] = []
    for position, item in enumerate(items):
        try:
            signed = SignedCommand.from_dict(item)
        except EncodingError as e:
            raise EncodingError(f"commands.{position}: not a signed command: {e}") from e
        if signed.track != track:
            raise EncodingError(
                f"commands.{position}: the command is for track {signed.track!r}, not {track!r}"
            )
        if commands and signed.member != commands[0].member:
            raise EncodingError(
                f"commands.{position}: signed by {signed.member}, but a batch holds one member's "
                f"commands ({commands[0].member})"
            )
        if signed.command == "open_track":
            raise EncodingError(f"commands.{position}: open_track cannot be batched")
        commands.append(signed)
    ctx.auth.command(request, commands[0], body)
    return commands


def _parse_batch_signed(ctx: ApiContext, request: Request, track: str, body: bytes) -> list[SignedCommand]:
    """Decode a batch-signed batch, authenticate the request, check its shape and its one signature."""
    data = loads_strict(body)
    if not isinstance(data, dict) or set(data) != {"commands"}:
        raise EncodingError("a batch is a JSON object with exactly one field, 'commands'")
    items = data["commands"]
    if not isinstance(items, list):
        raise EncodingError("commands: expected a list of batch-signed commands")
    commands: list[SignedCommand] = []
    for position, item in enumerate(items[: MAX_BATCH_COMMANDS + 1]):
        try:
            commands.append(SignedCommand.from_dict(item))
        except EncodingError as e:
            raise EncodingError(f"commands.{position}: not a signed command: {e}") from e
    check_batch(track, commands)
    ctx.auth.command(request, commands[0], body)
    verify_batch(ctx.state(track), commands, ctx.clock.now(), ctx.service.ahead)
    return commands


def _command_response(outcome: Outcome) -> tuple[int, CommandResponse]:
    """The status and body of one command's result (raises its error)."""
    if isinstance(outcome, BackchannelError):
        raise outcome
    response = CommandResponse(
        events=[dict(event.to_dict()) for event in outcome.events],
        first_index=outcome.first_index,
        checkpoint=None if outcome.checkpoint is None else outcome.checkpoint.to_text(),
        replayed=outcome.replayed,
    )
    return (200 if outcome.replayed else 201), response


def _batch_item(outcome: Outcome, instance: str) -> BatchItemModel:
    if isinstance(outcome, BackchannelError):
        problem = problem_for(outcome, instance=instance)
        return BatchItemModel(status=problem.status, problem=problem.body)
    status, response = _command_response(outcome)
    return BatchItemModel(status=status, result=response)


async def _run(ctx: ApiContext, commands: list[SignedCommand]) -> list[Outcome]:
    """Run commands through the group committer (shared appends) and wake the waiting streams."""
    outcomes = await asyncio.wrap_future(ctx.committer.submit(commands))
    for track in {c.track for c in commands}:
        ctx.periodic.touch(track)  # its next due time may have moved
    if any(isinstance(o, CommandResult) and not o.replayed for o in outcomes):
        ctx.changes.notify()
    return outcomes
