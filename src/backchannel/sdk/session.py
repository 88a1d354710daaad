"""What a capability's sub-client needs of :class:`~backchannel.sdk.client.BackchannelClient`.

:class:`Session` is the signed transport as a protocol (so the sub-clients do
not import the client that holds them), plus the two SDK errors:
:class:`ProblemError` (an RFC 9457 problem answer) and
:class:`ForkDetectedError` (two checkpoints that cannot both be true).

This module does no I/O.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import httpx

from backchannel.clock import Clock
from backchannel.errors import BackchannelError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand

__all__ = ["ForkDetectedError", "ProblemError", "Session", "new_idempotency_key"]


class ProblemError(BackchannelError):
    """The service answered with an RFC 9457 problem.

    Attributes:
        status: The HTTP status.
        type: The problem's ``type`` URI.
        problem: The whole problem body.
        retry_after: The ``Retry-After`` seconds, if the service sent one.
    """

    def __init__(self, status: int, problem: Mapping[str, Any], retry_after: float | None = None) -> None:
        """Create the error from a problem body."""
        self.status = status
        self.type = str(problem.get("type", "about:blank"))
        self.problem = dict(problem)
        self.retry_after = retry_after
        super().__init__(f"{status} {self.type}: {problem.get('detail', problem.get('title', ''))}")


class ForkDetectedError(VerificationError):
    """Two signed checkpoints of one track that cannot both be true (a split view).

    Attributes:
        old_note: The checkpoint seen earlier (signed note text).
        new_note: The checkpoint that contradicts it.
    """

    def __init__(self, message: str, *, old_note: str, new_note: str) -> None:
        """Create the error carrying both notes."""
        super().__init__(
            f"{message}\n--- earlier checkpoint ---\n{old_note}--- later checkpoint ---\n{new_note}"
        )
        self.old_note = old_note
        self.new_note = new_note


class Session(Protocol):
    """The signed transport of one member, as the sub-clients use it."""

    @property
    def member(self) -> str:
        """The member id (``party/name``)."""
        ...

    @property
    def keys(self) -> KeyPair:
        """The member's keys."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock this member signs with."""
        ...

    def send(  # noqa: PLR0913 - the request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, int] | None = None,
        body: bytes = b"",
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one RFC 9421-signed request (``timeout`` in seconds; default: the client's)."""
        ...

    def read_json(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a success, or raise :class:`ProblemError`."""
        ...

    def get_json(self, path: str, **params: int) -> dict[str, Any]:
        """A signed ``GET`` answered with a JSON object."""
        ...

    def post_json(self, path: str, body: Mapping[str, JSONValue]) -> tuple[int, dict[str, Any]]:
        """A signed ``POST`` of canonical JSON: the status and the answer."""
        ...

    def signed_request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, timeout: float = 5.0
    ) -> httpx.Request:
        """A signed request without a body, not yet sent (for long polls and streams)."""
        ...

    def send_request(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send a request built by :meth:`signed_request`."""
        ...

    def service_info(self) -> dict[str, Any]:
        """``GET /v1/service``."""
        ...

    def execute(
        self, command: str, body: Mapping[str, JSONValue], *, track: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and send a command."""
        ...

    def execute_many(
        self, commands: Iterable[tuple[str, Mapping[str, JSONValue]]], *, track: str
    ) -> list[dict[str, Any]]:
        """Sign commands and send them as one batch."""
        ...

    def sign(
        self, command: str, body: Mapping[str, JSONValue], *, track: str, idempotency_key: str | None = None
    ) -> SignedCommand:
        """Sign a command (no request is sent)."""
        ...


def new_idempotency_key() -> str:
    """A fresh idempotency key for a command the caller gave none."""
    return "sdk-" + secrets.token_hex(16)
