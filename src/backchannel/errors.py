"""The error tree of backchannel.

Every error the library raises on purpose is a :class:`BackchannelError`.
Adapters (SQLite, JSON, base64, ``cryptography``) wrap the errors of what they
call at the seam and chain the cause (``raise ... from e``), so callers only
ever catch our types::

    BackchannelError                 diagnostics() -> str
    ├── DomainError                  a rule of the negotiation was broken; never retry
    ├── ConflictError                expected size/seq mismatch on append; reload and retry
    ├── VerificationError            bad signature, root mismatch, malformed proof,
    │                                inconsistent checkpoint; ONE public type
    ├── EncodingError                a value cannot be encoded or decoded exactly
    │   │                            (non-canonical JSON, NaN, integers beyond 2^53,
    │   │                            unknown fields, wrong types)
    │   └── PayloadTooLargeError     a body or blob over a size limit; carries limit
    ├── StorageError                 PEP 249 shape
    │   ├── OperationalError         transient (locked database, disk full): may retry
    │   └── ProgrammingError         a bug or a corrupt/foreign database: do not retry
    ├── NotFoundError                an unknown track, index or file
    ├── RateLimitedError             a caller's own budget is spent; carries retry_after
    ├── DeliveryError                a delivery could not be made as asked
    │   ├── WouldBlock               a *_nowait call on a full queue; carries retry_after (trio)
    │   └── UnknownDeliveryError     a message id a queue has never seen
    └── ConfigurationError           a bad setting, path or key file

This module holds no HTTP status codes: the API layer owns the one table that
maps these families to responses.
"""

from __future__ import annotations

__all__ = [
    "BackchannelError",
    "ConfigurationError",
    "ConflictError",
    "DeliveryError",
    "DomainError",
    "EncodingError",
    "NotFoundError",
    "OperationalError",
    "PayloadTooLargeError",
    "ProgrammingError",
    "RateLimitedError",
    "StorageError",
    "UnknownDeliveryError",
    "VerificationError",
    "WouldBlock",
]


class BackchannelError(Exception):
    """Root of every error backchannel raises on purpose."""

    def diagnostics(self) -> str:
        """Return a human-readable explanation, suitable for a terminal.

        Returns:
            The message, followed by the chained cause when there is one.
        """
        text = f"{type(self).__name__}: {self}"
        cause = self.__cause__
        if cause is not None:
            text += f"\n  caused by {type(cause).__name__}: {cause}"
        return text


class DomainError(BackchannelError):
    """A rule of the negotiation was broken. The caller's fault; never retry."""


class ConflictError(BackchannelError):
    """An append named a stale position (optimistic concurrency). Reload and retry."""

    def __init__(self, message: str, *, expected: int | None = None, actual: int | None = None) -> None:
        """Create the error.

        Args:
            message: What conflicted.
            expected: The size or sequence number the caller expected.
            actual: The size or sequence number actually found.
        """
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class VerificationError(BackchannelError):
    """Something failed cryptographic or structural verification.

    ``index`` names the first bad log index when the failure belongs to one.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        """Create the error.

        Args:
            message: What failed and why.
            index: The log index the failure belongs to, if any.
        """
        super().__init__(message)
        self.index = index


class EncodingError(BackchannelError):
    """A value cannot be encoded or decoded exactly (canonical JSON, base64, fields)."""


class PayloadTooLargeError(EncodingError):
    """A body or blob larger than the service accepts.

    Attributes:
        limit: The largest size accepted, in bytes.
    """

    def __init__(self, limit: int, what: str = "request body") -> None:
        """Create the error naming what was too large and the limit in bytes."""
        super().__init__(f"{what} larger than the limit of {limit} bytes")
        self.limit = limit


class StorageError(BackchannelError):
    """The store failed."""


class OperationalError(StorageError):
    """A transient storage failure (locked database, disk full, lost connection)."""


class ProgrammingError(StorageError):
    """A storage failure that retrying will not fix (bad schema, corrupt file)."""


class NotFoundError(BackchannelError):
    """An unknown track, index, key or file."""


class RateLimitedError(BackchannelError):
    """A caller spent its own budget (e.g. its replay window); others are not affected.

    Attributes:
        retry_after: Seconds until the budget has room again (the truth, not a guess).
        limit: The budget.
    """

    def __init__(self, message: str, *, retry_after: float, limit: int) -> None:
        """Create the error.

        Args:
            message: Which budget is full and when it has room again.
            retry_after: Seconds until the budget has room again.
            limit: The budget.
        """
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class DeliveryError(BackchannelError):
    """A delivery could not be made as asked."""


class WouldBlock(DeliveryError):  # noqa: N818 - trio's name; a documented control-flow signal
    """The recipient's queue is full: the sender must retry later (never a silent drop).

    Attributes:
        retry_after: Seconds after which a retry may succeed (a hint, never a promise).
        queued: How many messages the queue held when it refused.
        limit: The queue's limit.
    """

    def __init__(self, message: str, *, retry_after: float, queued: int, limit: int) -> None:
        """Create the error.

        Args:
            message: What was refused and why.
            retry_after: Seconds after which a retry may succeed.
            queued: How many messages the queue held.
            limit: The queue's limit.
        """
        super().__init__(message)
        self.retry_after = retry_after
        self.queued = queued
        self.limit = limit


class UnknownDeliveryError(DeliveryError):
    """A message id that the queue has never seen (not queued, settled or dead-lettered).

    Attributes:
        message_id: The unknown id.
    """

    def __init__(self, message_id: str) -> None:
        """Create the error.

        Args:
            message_id: The unknown id.
        """
        super().__init__(f"no delivery of message {message_id!r} is known to this queue")
        self.message_id = message_id


class ConfigurationError(BackchannelError):
    """A bad setting, path or key file."""
