"""backchannel: mediated negotiation with a signed, tamper-evident, verifiable log.

General layout (lower layers never import higher ones; a test pins this):

- ``backchannel.errors``: the error tree (``BackchannelError`` and families).
- ``backchannel.domain``: pure negotiation rules (later issues).
- ``backchannel.log``: pure log primitives: canonical JSON (RFC 8785), Ed25519
  signatures, RFC 6962 Merkle trees, C2SP checkpoints, envelopes, offline
  verification.
- ``backchannel.store``: the ``EventStore`` contract and its memory and SQLite
  adapters.
- ``backchannel.service``: orchestration (the log writer).
- ``backchannel.cli``: the ``backchannel`` command (Typer + Rich).
- ``backchannel.testing``: public test helpers and contract suites.
"""

from backchannel.errors import (
    BackchannelError,
    ConfigurationError,
    ConflictError,
    DomainError,
    EncodingError,
    NotFoundError,
    StorageError,
    VerificationError,
)

__all__ = [
    "BackchannelError",
    "ConfigurationError",
    "ConflictError",
    "DomainError",
    "EncodingError",
    "NotFoundError",
    "StorageError",
    "VerificationError",
]

__version__ = "0.1.0.dev0"
