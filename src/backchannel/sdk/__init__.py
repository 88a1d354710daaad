"""The Python SDK: sign commands and requests, verify what the service returns.

- :mod:`backchannel.sdk.client`: :class:`BackchannelClient`, one member's signed
  transport, commands and batches, with one sub-client per capability
  (``client.log``, ``client.inbox``, ``client.deals.list_all``, ``client.escrow.get``,
  ``client.attestations``, ``client.obligations``, ``client.texts.list_all``,
  ``client.annexes``);
- :mod:`backchannel.sdk.receipts`: offline verification of proofs of receipt;
- :mod:`backchannel.sdk.witness`: a witness program that cosigns checkpoints.

This package talks HTTP only through ``httpx`` and holds no server code.
"""

from backchannel.log.cosignature import InsufficientCosignaturesError
from backchannel.sdk.client import BackchannelClient
from backchannel.sdk.deals import CommitmentSecret, deal_hash
from backchannel.sdk.inbox import Receivable, receipt_digest, receipt_items
from backchannel.sdk.log import witness_policy
from backchannel.sdk.receipts import ReceiptProof
from backchannel.sdk.session import ForkDetectedError, ProblemError

__all__ = [
    "BackchannelClient",
    "CommitmentSecret",
    "ForkDetectedError",
    "InsufficientCosignaturesError",
    "ProblemError",
    "ReceiptProof",
    "Receivable",
    "deal_hash",
    "receipt_digest",
    "receipt_items",
    "witness_policy",
]
