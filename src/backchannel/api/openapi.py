"""The OpenAPI document of the API: problem responses, the signed command envelope, batches.

:func:`install_openapi` replaces FastAPI's generator with one that also
declares every error body as ``application/problem+json`` of ``ProblemModel``,
the request bodies of ``POST .../commands`` (``SignedCommand``, its payload a
union discriminated by ``command``: :mod:`backchannel.api.command_schemas`)
and ``.../commands/batch`` (``BatchRequestModel``) that the routes read raw,
and the RFC 9421 headers every ``/v1/tracks`` operation needs, as security
schemes (``Signature``, ``Signature-Input``, ``Content-Digest``).

This module does not validate requests (the routes decode bodies strictly themselves).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backchannel.api.errors import PROBLEM_MEDIA_TYPE
from backchannel.api.schemas import BatchRequestModel, ProblemModel, SignedCommandModel

__all__ = ["ERROR_RESPONSES", "SECURITY_SCHEMES", "install_openapi"]

PROBLEM_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "429", "503")
"""The statuses every route may answer with a problem."""
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    int(status): {"model": ProblemModel} for status in PROBLEM_STATUSES
}
"""The error responses declared on every route."""


def _problem_responses(schema: dict[str, Any]) -> None:
    """Declare error bodies as ``application/problem+json`` of ``ProblemModel`` (what is sent)."""
    problem = {"schema": {"$ref": "#/components/schemas/ProblemModel"}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status in PROBLEM_STATUSES:
                    response["content"] = {PROBLEM_MEDIA_TYPE: problem}


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "rfc9421Signature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": (
            "RFC 9421 HTTP Message Signature, Ed25519 (`sig1=:<base64>:`), over at least "
            "`@method`, `@target-uri` and `content-digest`, with the parameters `created`, `keyid` "
            "(a key of the track: the command's own key, or the reader's), `alg=\"ed25519\"`, "
            '`nonce` (once per key) and `tag="backchannel"`; `created` within 300 s of the server\'s clock'
        ),
    },
    "rfc9421SignatureInput": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature-Input",
        "description": 'RFC 9421 `Signature-Input`: `sig1=("@method" "@target-uri" "content-digest");...`',
    },
    "contentDigest": {
        "type": "apiKey",
        "in": "header",
        "name": "Content-Digest",
        "description": "RFC 9530 `Content-Digest: sha-256=:<base64>:` of the body (of the empty body too)",
    },
}
"""The transport signature as OpenAPI security schemes: all three headers, together."""
SIGNED: dict[str, list[str]] = {name: [] for name in SECURITY_SCHEMES}
"""The security requirement of every ``/v1/tracks`` operation (the three schemes, AND)."""


def _security(schema: dict[str, Any]) -> None:
    """Declare the RFC 9421 headers and require them on every ``/v1/tracks`` operation."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/v1/tracks/"):
            for operation in operations.values():
                operation["security"] = [SIGNED]


def install_openapi(app: FastAPI) -> None:
    """Serve the document described in the module docstring at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            command_schema = SignedCommandModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(command_schema.pop("$defs", {}))
            components["CommandPayloadModel"] = command_schema["properties"]["payload"]  # the union
            command_schema["properties"]["payload"] = {"$ref": "#/components/schemas/CommandPayloadModel"}
            components["SignedCommand"] = command_schema
            batch_schema = BatchRequestModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(batch_schema.pop("$defs", {}))
            components["BatchRequestModel"] = batch_schema
            _problem_responses(schema)
            _security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
