"""JSON logs for ``backchannel serve --log-format json`` (ADR-0029).

:class:`JsonFormatter` writes one JSON object per line: ``time`` (RFC 3339,
UTC), ``level``, ``logger``, ``message`` and, where the record has them, the
request fields: uvicorn's access records give ``client``, ``method``,
``path``, ``http_version`` and ``status``; any record logged with
``extra={"request": {...}}`` gives those fields too; an exception gives
``exception`` (its formatted traceback). :func:`configure_json_logs` installs it
on the root logger.

This module does not choose what is logged, and never logs request bodies,
headers or signatures.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO

__all__ = ["JsonFormatter", "configure_json_logs"]

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
_ACCESS_ARITY = len(_ACCESS_FIELDS)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON object, without a newline."""
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_request_fields(record))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def _request_fields(record: logging.LogRecord) -> dict[str, object]:
    request = getattr(record, "request", None)
    if isinstance(request, dict):
        return {str(k): v for k, v in request.items()}
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == _ACCESS_ARITY:
        return dict(zip(_ACCESS_FIELDS, args, strict=True))
    return {}


def configure_json_logs(level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record (uvicorn's included) to ``stream`` as JSON lines; return the handler.

    Args:
        level: The root logger's level.
        stream: Where the lines go (default: standard error).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
