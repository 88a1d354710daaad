"""backchannel: mediated negotiation with a signed, tamper-evident, verifiable log.

The curated public API is what ``__all__`` names (a test pins it): the SDK
client and its errors, the error tree, :class:`Settings`, the clock and the key
pair helpers. Everything else is reached through its module.

General layout (inner layers never import outer ones; ``tests/unit/test_layering.py`` pins it):

- ``backchannel.errors``, ``backchannel.clock``: the error tree and the clock protocol.
- ``backchannel.domain``: pure negotiation rules (decide, evolve, visibility); no I/O, no clock.
- ``backchannel.log``: pure log primitives: canonical JSON (RFC 8785), Ed25519,
  RFC 6962 Merkle trees, C2SP checkpoints and cosignatures, sealing, offline verification.
- ``backchannel.protocol``: what goes over the wire: RFC 9421 signatures (and the
  RFC 8941 parser, the nonce store), annex sealing formats, key files.
- ``backchannel.store``: the ``EventStore`` contract and its memory and SQLite adapters.
- ``backchannel.broker``: delivery queues, policies and presence (pure, take ``now``).
- ``backchannel.service``: the application layer: tracks, delivery, deals, escrow,
  obligations, texts, annexes, witnesses, group commit.
- ``backchannel.sdk``: the Python client, one sub-client per capability, the witness.
- ``backchannel.api``: the HTTP adapter (FastAPI): one router per capability.
- ``backchannel.cli``: the ``backchannel`` command (Typer + Rich): one sub-app per capability.
- ``backchannel.node``: the composition root that ``backchannel serve`` runs.
- ``backchannel.demo``: the demo scenes; ``backchannel.testing``: public test helpers.
- ``backchannel.forecast``, ``backchannel.coordination`` and the other analysis
  libraries: pure, below the adapters.

The names are loaded on first use, so ``import backchannel.log`` does not pull
in the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backchannel.errors import (
    BackchannelError,
    ConfigurationError,
    ConflictError,
    DomainError,
    EncodingError,
    NotFoundError,
    OperationalError,
    StorageError,
    VerificationError,
    WouldBlock,
)

if TYPE_CHECKING:
    from backchannel.clock import Clock, SystemClock
    from backchannel.log.cosignature import InsufficientCosignaturesError
    from backchannel.protocol.keyfile import (
        KeyPair,
        generate_agreement_key,
        generate_signing_key,
        read_key_file,
        write_key_file,
    )
    from backchannel.sdk import (
        BackchannelClient,
        CommitmentSecret,
        ForkDetectedError,
        ProblemError,
        ReceiptProof,
        deal_hash,
        receipt_digest,
        witness_policy,
    )
    from backchannel.service.config import Settings

__all__ = [
    "BackchannelClient",
    "BackchannelError",
    "Clock",
    "CommitmentSecret",
    "ConfigurationError",
    "ConflictError",
    "DomainError",
    "EncodingError",
    "ForkDetectedError",
    "InsufficientCosignaturesError",
    "KeyPair",
    "NotFoundError",
    "OperationalError",
    "ProblemError",
    "ReceiptProof",
    "Settings",
    "StorageError",
    "SystemClock",
    "VerificationError",
    "WouldBlock",
    "deal_hash",
    "generate_agreement_key",
    "generate_signing_key",
    "read_key_file",
    "receipt_digest",
    "witness_policy",
    "write_key_file",
]

__version__ = "0.1.0.dev0"

_LAZY = {
    "BackchannelClient": "backchannel.sdk",
    "CommitmentSecret": "backchannel.sdk",
    "ForkDetectedError": "backchannel.sdk",
    "ProblemError": "backchannel.sdk",
    "ReceiptProof": "backchannel.sdk",
    "deal_hash": "backchannel.sdk",
    "receipt_digest": "backchannel.sdk",
    "witness_policy": "backchannel.sdk",
    "InsufficientCosignaturesError": "backchannel.log.cosignature",
    "KeyPair": "backchannel.protocol.keyfile",
    "generate_agreement_key": "backchannel.protocol.keyfile",
    "generate_signing_key": "backchannel.protocol.keyfile",
    "read_key_file": "backchannel.protocol.keyfile",
    "write_key_file": "backchannel.protocol.keyfile",
    "Settings": "backchannel.service.config",
    "Clock": "backchannel.clock",
    "SystemClock": "backchannel.clock",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the named export is
    """Load a public name from its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backchannel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted({*globals(), *__all__})
