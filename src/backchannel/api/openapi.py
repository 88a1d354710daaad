"""The OpenAPI document of the API: problem responses, the signed command envelope, batches.

:func:`install_openapi` replaces FastAPI's generator with one that also
declares every error body as ``application/problem+json`` of ``ProblemModel``,
and the request bodies of ``POST .../commands`` (``SignedCommand``) and
``.../commands/batch`` (``BatchRequestModel``) that the routes read raw.

This module does not validate requests (the routes decode bodies strictly themselves).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backchannel.api.errors import PROBLEM_MEDIA_TYPE
from backchannel.api.schemas import BatchRequestModel, ProblemModel, SignedCommandModel

__all__ = ["ERROR_RESPONSES", "install_openapi"]

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


def install_openapi(app: FastAPI) -> None:
    """Serve the document described in the module docstring at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            command_schema = SignedCommandModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(command_schema.pop("$defs", {}))
            components["SignedCommand"] = command_schema
            batch_schema = BatchRequestModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(batch_schema.pop("$defs", {}))
            components["BatchRequestModel"] = batch_schema
            _problem_responses(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
