"""The one table from error families to HTTP responses (RFC 9457 problem+json).

Domain and library errors carry no HTTP status (ADR-0012); this module owns the
mapping. Each family has a stable ``type`` URI under :data:`PROBLEM_BASE`; the
first row whose class the error is an instance of wins, so the rows run from
the most specific class to the most general.

================================  ======  ===================================
Family                            Status  ``type`` slug
================================  ======  ===================================
:class:`AuthenticationError`       401    ``unauthenticated``
``SchemaViolationError``           422    ``schema-violation`` (+ ``violations``)
``NotAuthorizedError``             403    ``not-authorized``
``KeyRevokedError``                403    ``key-revoked``
``KeyExpiredError``                403    ``key-expired``
``UnknownKeyError``                403    ``unknown-key``
``UnknownMemberError``             403    ``unknown-member``
``IdempotencyConflictError``       409    ``idempotency-conflict``
``DealDeadlineError``              409    ``deal-deadline`` (issue #4)
``DealStateError``                 409    ``deal-state``
``CommitmentStateError``           409    ``commitment-state``
``CommitmentMismatchError``        422    ``commitment-mismatch``
``UnknownDealError``               422    ``unknown-deal``
``UnknownCommitmentError``         422    ``unknown-commitment``
``TrackStateError``                409    ``track-state``
``AgendaNotRatifiedError``         409    ``agenda-not-ratified``
``StaleAgendaError``               409    ``stale-agenda`` (+ ``current``)
``AgendaMismatchError``            409    ``agenda-mismatch``
``StaleVersionError``              409    ``stale-text-version`` (+ ``current``, ``doc``)
``UnknownDocumentError``           422    ``unknown-document``
``UnknownPartyError``              422    ``unknown-party``
``UnknownMessageError``            422    ``unknown-message``
``InvalidRecipientError``          422    ``invalid-recipient``
``UnknownMetricError``             422    ``unknown-metric``
``UnknownEscrowError``             404    ``unknown-escrow`` (as for reading it)
``EscrowConditionError``           409    ``escrow-condition-unmet`` (+ ``progress``)
``PredicateSyntaxError``           422    ``malformed-predicate`` (+ ``column``, ``expected``)
other ``DomainError``              422    ``domain-rule``
``ConflictError``                  409    ``conflict``
:class:`PayloadTooLargeError`      413    ``payload-too-large`` (+ ``limit``)
other ``VerificationError``        422    ``verification-failed``
``EncodingError``                  400    ``malformed-request``
``NotFoundError``                  404    ``not-found``
``AdmissionRefusedError``          403    ``not-admitted`` (+ ``rule``; ADR-0023)
``RateLimitedError``               429    ``rate-limited`` (+ ``Retry-After``, ``limit``)
``DamagedTrackError``              503    ``track-damaged`` (+ ``index``; no ``Retry-After``)
``WouldBlock``                     429    ``would-block`` (+ ``Retry-After``)
``OperationalError``               503    ``unavailable`` (+ ``Retry-After``)
anything else                      500    ``internal`` (no details)
================================  ======  ===================================

The domain errors split on one question: *would the same command succeed in
another state of the track?* If yes (opened twice, agenda not ratified yet,
stale agenda version, an idempotency key already used), the answer is 409
Conflict: the client reloads and reconsiders. If no (a party or message that
does not exist, a recipient the rules never allow), it is 422: the command
itself is wrong. A key or member the track does not know, or may no longer
use, is 403: the signer is identified but not permitted.

A :class:`~backchannel.errors.VerificationError` raised while authenticating
the *request* (RFC 9421: bad or replayed signature, skewed ``created``, a key
id that does not resolve) is wrapped by the API in :class:`AuthenticationError`
and becomes 401. Any other verification failure (a command whose own
signature does not verify, an ``open_track`` naming another service key) is
422: the request was authentic but its content does not check.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from backchannel.domain.agreements.attestation_book import UnknownMetricError
from backchannel.domain.agreements.commitments import (
    CommitmentMismatchError,
    CommitmentStateError,
    UnknownCommitmentError,
)
from backchannel.domain.agreements.deals import DealDeadlineError, DealStateError, UnknownDealError
from backchannel.domain.agreements.escrow_book import EscrowConditionError, UnknownEscrowError
from backchannel.domain.agreements.predicates import PredicateSyntaxError
from backchannel.domain.agreements.text_model import StaleVersionError, UnknownDocumentError
from backchannel.domain.errors import (
    AgendaMismatchError,
    AgendaNotRatifiedError,
    IdempotencyConflictError,
    InvalidRecipientError,
    KeyExpiredError,
    KeyRevokedError,
    NotAuthorizedError,
    SchemaViolationError,
    StaleAgendaError,
    TrackStateError,
    UnknownKeyError,
    UnknownMemberError,
    UnknownMessageError,
    UnknownPartyError,
)
from backchannel.errors import (
    BackchannelError,
    ConflictError,
    DomainError,
    EncodingError,
    NotFoundError,
    OperationalError,
    PayloadTooLargeError,
    RateLimitedError,
    VerificationError,
    WouldBlock,
)
from backchannel.service.admission import AdmissionRefusedError
from backchannel.service.integrity import DamagedTrackError

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "AuthenticationError",
    "PayloadTooLargeError",
    "Problem",
    "install_error_handlers",
    "problem_for",
    "problem_response",
]

PROBLEM_BASE = "https://backchannel.dev/problems/"
"""Every problem ``type`` URI starts with this."""
PROBLEM_MEDIA_TYPE = "application/problem+json"
"""The media type of every error response."""

_LOG = logging.getLogger(__name__)
_DEFAULT_RETRY_AFTER = 1


class AuthenticationError(VerificationError):
    """The request's RFC 9421 signature was refused (401); the message says why."""


@dataclass(frozen=True, slots=True)
class _Row:
    family: type[BaseException]
    status: int
    slug: str
    title: str


_TABLE: tuple[_Row, ...] = (
    _Row(AuthenticationError, 401, "unauthenticated", "Request signature refused"),
    _Row(SchemaViolationError, 422, "schema-violation", "Payload violates its schema"),
    _Row(NotAuthorizedError, 403, "not-authorized", "Not authorized"),
    _Row(KeyRevokedError, 403, "key-revoked", "Key revoked"),
    _Row(KeyExpiredError, 403, "key-expired", "Key expired"),
    _Row(UnknownKeyError, 403, "unknown-key", "Unknown key"),
    _Row(UnknownMemberError, 403, "unknown-member", "Unknown member"),
    _Row(IdempotencyConflictError, 409, "idempotency-conflict", "Idempotency key reused"),
    _Row(DealDeadlineError, 409, "deal-deadline", "Outside the deal's prepare deadline"),
    _Row(DealStateError, 409, "deal-state", "Illegal in the deal's current state"),
    _Row(CommitmentStateError, 409, "commitment-state", "Commitment already revealed"),
    _Row(CommitmentMismatchError, 422, "commitment-mismatch", "Reveal does not match the commitment"),
    _Row(UnknownDealError, 422, "unknown-deal", "Unknown deal"),
    _Row(UnknownCommitmentError, 422, "unknown-commitment", "Unknown commitment"),
    _Row(TrackStateError, 409, "track-state", "Illegal in the track's current state"),
    _Row(AgendaNotRatifiedError, 409, "agenda-not-ratified", "Agenda not ratified"),
    _Row(StaleAgendaError, 409, "stale-agenda", "Stale agenda version"),
    _Row(AgendaMismatchError, 409, "agenda-mismatch", "Agenda digest mismatch"),
    _Row(StaleVersionError, 409, "stale-text-version", "Stale text version"),
    _Row(UnknownDocumentError, 422, "unknown-document", "Unknown document or version"),
    _Row(UnknownPartyError, 422, "unknown-party", "Unknown party"),
    _Row(UnknownMessageError, 422, "unknown-message", "Unknown message"),
    _Row(InvalidRecipientError, 422, "invalid-recipient", "Invalid recipient"),
    _Row(UnknownMetricError, 422, "unknown-metric", "Unknown metric"),
    _Row(UnknownEscrowError, 404, "unknown-escrow", "Unknown escrow"),
    _Row(EscrowConditionError, 409, "escrow-condition-unmet", "Escrow condition not met"),
    _Row(PredicateSyntaxError, 422, "malformed-predicate", "Malformed predicate"),
    _Row(DomainError, 422, "domain-rule", "Command breaks a rule of the track"),
    _Row(ConflictError, 409, "conflict", "Conflict"),
    _Row(PayloadTooLargeError, 413, "payload-too-large", "Payload too large"),
    _Row(VerificationError, 422, "verification-failed", "Verification failed"),
    _Row(EncodingError, 400, "malformed-request", "Malformed request"),
    _Row(NotFoundError, 404, "not-found", "Not found"),
    _Row(AdmissionRefusedError, 403, "not-admitted", "Not admitted to open tracks"),
    _Row(RateLimitedError, 429, "rate-limited", "Budget spent; try again later"),
    _Row(DamagedTrackError, 503, "track-damaged", "Track failed its integrity check"),
    _Row(WouldBlock, 429, "would-block", "Try again later"),
    _Row(OperationalError, 503, "unavailable", "Service temporarily unavailable"),
)
_INTERNAL = _Row(Exception, 500, "internal", "Internal server error")


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem: status, body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _row_for(error: BaseException) -> _Row:
    return next((row for row in _TABLE if isinstance(error, row.family)), _INTERNAL)


def problem_for(error: BaseException, *, instance: str | None = None) -> Problem:  # noqa: C901, PLR0912 - one branch per extension
    """Map an error to its problem (the one table above).

    Args:
        error: What was raised.
        instance: The request path, reported as the problem's ``instance``.

    Returns:
        The status, the problem+json body and headers (``Retry-After``).
    """
    row = _row_for(error)
    if row is _INTERNAL or not isinstance(error, BackchannelError):
        _LOG.error("unhandled error", exc_info=error)
        row = _INTERNAL
        detail = "the service failed to handle the request; the error was logged"
    else:
        detail = str(error)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + row.slug,
        "title": row.title,
        "status": row.status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    headers: dict[str, str] = {}
    if isinstance(error, SchemaViolationError):
        body["violations"] = [
            {"field": v.field, "rule": v.rule, "message": v.message} for v in error.violations
        ]
    elif isinstance(error, StaleAgendaError):
        body["current"] = error.current
    elif isinstance(error, EscrowConditionError):
        body["progress"] = error.check.reason
    elif isinstance(error, PredicateSyntaxError):
        body["column"], body["expected"] = error.column, error.expected
    elif isinstance(error, StaleVersionError):
        body["current"] = error.current
        body["doc"] = error.doc
    elif isinstance(error, PayloadTooLargeError):
        body["limit"] = error.limit
    elif isinstance(error, AdmissionRefusedError):
        body["rule"] = error.rule
    elif isinstance(error, DamagedTrackError):
        body["index"] = error.index
    elif isinstance(error, WouldBlock | RateLimitedError):
        if isinstance(error, RateLimitedError):
            body["limit"] = error.limit
        seconds = max(1, math.ceil(error.retry_after))
        headers["Retry-After"] = str(seconds)
        body["retry_after"] = seconds
    elif isinstance(error, OperationalError):
        headers["Retry-After"] = str(_DEFAULT_RETRY_AFTER)
        body["retry_after"] = _DEFAULT_RETRY_AFTER
    elif isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = 'Signature tag="backchannel"'
    return Problem(row.status, body, headers)


def problem_response(problem: Problem) -> JSONResponse:
    """Render a problem as an ``application/problem+json`` response."""
    return JSONResponse(
        problem.body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error a route raises with problem+json (ours by the table, and the frameworks')."""

    async def _any_error(request: Request, error: Exception) -> JSONResponse:
        return problem_response(problem_for(error, instance=request.url.path))

    async def _validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_problem(request, error)

    async def _http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _http_problem(request, error)

    app.add_exception_handler(BackchannelError, _any_error)  # expected: answered, not re-raised
    app.add_exception_handler(Exception, _any_error)  # a bug: answered with a bare 500, then logged
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    violations = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in {"query", "path", "body"}),
            "rule": str(e.get("type", "invalid")),
            "message": str(e.get("msg", "invalid value")),
        }
        for e in error.errors()
    ]
    body = {
        "type": PROBLEM_BASE + "invalid-parameter",
        "title": "Invalid request parameter",
        "status": 422,
        "detail": "; ".join(f"{v['field']}: {v['message']}" for v in violations),
        "instance": request.url.path,
        "violations": violations,
    }
    return JSONResponse(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)


def _http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    body = {
        "type": PROBLEM_BASE + slug,
        "title": str(error.detail),
        "status": error.status_code,
        "detail": str(error.detail),
        "instance": request.url.path,
    }
    return JSONResponse(
        body, status_code=error.status_code, headers=error.headers, media_type=PROBLEM_MEDIA_TYPE
    )
