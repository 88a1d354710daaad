"""The signed command envelope in OpenAPI: one payload model per command, a union on ``command``.

:data:`SignedCommandModel` documents the body of ``POST .../commands``: a
``payload`` (what the member signs) and its ``sig``. The payload is a union
discriminated by ``command``: one model per command, whose ``command`` is a
``Literal`` and whose ``body`` is that command's own closed object, its fields
and types read from the command's codec (:mod:`backchannel.protocol.wire`) and the
domain command it decodes to. A generated client thus knows every command's
body; the transport signature is the ``rfc9421`` security scheme
(:mod:`backchannel.api.openapi`).

This module only documents: the handler never parses with pydantic (the
signature covers exact bytes; :meth:`backchannel.protocol.wire.SignedCommand.from_dict`
reads the raw body).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from backchannel.domain import Command, NewKey
from backchannel.protocol import wire

__all__ = [
    "BatchRequestModel",
    "CommandPayloadModel",
    "NewKeyModel",
    "SignedCommandModel",
    "body_fields",
    "command_models",
]

_ENVELOPE_DESCRIPTIONS = {
    "track": "the track id (the path's track)",
    "member": "party/name",
    "key_id": "ed25519:<32 hex>; must equal the RFC 9421 keyid",
    "issued_at": "UTC, microseconds: 2026-01-01T00:00:00.000000Z",
    "nonce": "unique per member",
    "idempotency_key": "retries with the same key get the first result",
}


class NewKeyModel(BaseModel):
    """A key granted by a command (``principal_key``, ``service_key``, ``new_key``)."""

    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(description="ed25519:<32 hex>, of the Ed25519 key")
    ed25519: str = Field(description="the 32-byte Ed25519 public key, base64")
    x25519: str = Field(description="the 32-byte X25519 public key, base64")
    expires_at: str | None = Field(description="UTC timestamp, or null for no expiry")


def _json_type(annotation: Any) -> Any:  # noqa: ANN401, PLR0911 - a type in, a type out: one case per kind
    """The JSON-side type of a domain field's annotation."""
    origin = typing.get_origin(annotation)
    if origin in {Union, types.UnionType}:
        parts = [_json_type(a) for a in typing.get_args(annotation) if a is not type(None)]
        inner = parts[0] if len(parts) == 1 else Any
        return inner | None if type(None) in typing.get_args(annotation) else inner
    if origin is tuple:
        return list[_json_type(typing.get_args(annotation)[0])]  # type: ignore[misc]
    if annotation is NewKey:
        return NewKeyModel
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return Literal[tuple(member.value for member in annotation)]
    if annotation in {str, datetime, bytes}:
        return str
    if annotation in {int, float, bool}:
        return annotation
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return dict[str, Any]
    if dataclasses.is_dataclass(annotation):
        return dict[str, Any]
    return Any


def _description(annotation: Any) -> str | None:  # noqa: ANN401 - any annotation
    outer = typing.get_args(annotation)
    named = {annotation, *outer, *(inner for arg in outer for inner in typing.get_args(arg))}
    if datetime in named:
        return "UTC timestamp (RFC 3339, microseconds, Z)"
    if bytes in named:
        return "32 bytes: 64 lowercase hex digits"
    return None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _body_model(name: str, command_type: type, fields: frozenset[str]) -> type[BaseModel]:
    hints = typing.get_type_hints(command_type)
    definitions: dict[str, Any] = {}
    for field in sorted(fields):
        annotation = hints.get(field, Any)
        definitions[field] = (_json_type(annotation), Field(description=_description(annotation)))
    return create_model(
        f"{_camel(name)}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The body of ``{name}``.",
        **definitions,
    )


def _payload_model(name: str, body: type[BaseModel]) -> type[BaseModel]:
    envelope: dict[str, Any] = {
        field: (str | None if field == "idempotency_key" else str, Field(description=text))
        for field, text in _ENVELOPE_DESCRIPTIONS.items()
    }
    return create_model(
        f"{_camel(name)}Payload",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"What a member signs to run ``{name}`` (RFC 8785 canonical JSON, ADR-0011).",
        command=(typing.cast("Any", Literal[name]), ...),
        body=(body, ...),
        **envelope,
    )


_COMPUTED_BY_THE_WIRE = {
    "propose_agenda": "agenda_digest",
    "draft_deal": "deal_hash",
    "prepare_deal": "deal_hash",
    "open_escrow": "escrow_digest",
}
"""The digest the wire computes from a command's body: never the client's to send."""


def body_fields(name: str, kind: type[Command]) -> frozenset[str]:
    """The body fields of command ``name`` (class ``kind``), less the envelope's and a computed digest."""
    skip = {f.name for f in dataclasses.fields(Command)} | {_COMPUTED_BY_THE_WIRE.get(name, "")}
    return frozenset(f.name for f in dataclasses.fields(kind) if f.init and f.name not in skip)


def command_models() -> dict[str, type[BaseModel]]:
    """Command name -> its payload model, for every command the service decodes, in name order."""
    return {
        name: _payload_model(name, _body_model(name, kind, body_fields(name, kind)))
        for name, kind in sorted(wire.COMMAND_NAMES.items())
    }


_MODELS = command_models()

CommandPayloadModel: Any = Annotated[
    Union[tuple(_MODELS.values())],  # noqa: UP007 - a union built at run time
    Field(discriminator="command"),
]
"""The payload: one model per command, discriminated by ``command``."""

SignedCommandModel: type[BaseModel] = create_model(
    "SignedCommandModel",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The request body of ``POST /v1/tracks/{track}/commands``.",
    payload=(CommandPayloadModel, ...),
    sig=(str, Field(description="base64 Ed25519 signature over the payload's canonical bytes")),
)
"""The signed command: the payload a member signs and its signature."""

_SIGNED_LIST: Any = list[SignedCommandModel]  # type: ignore[valid-type]

BatchRequestModel: type[BaseModel] = create_model(
    "BatchRequestModel",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The request body of ``POST /v1/tracks/{track}/commands/batch``.",
    commands=(
        _SIGNED_LIST,
        Field(description="signed commands of the requesting member, run in order (group commit)"),
    ),
)
"""A batch: one member's signed commands for one track."""
