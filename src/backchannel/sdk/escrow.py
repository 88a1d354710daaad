"""Escrows (ADR-0017): ``client.escrow``.

:meth:`EscrowClient.open`, :meth:`EscrowClient.get` (terms, signatures and the
check), :meth:`EscrowClient.sign_release` (which recomputes the escrow's digest
from the terms it is shown and refuses to sign if the service's digest differs)
and :meth:`EscrowClient.release`.

This module does not evaluate release predicates (the service does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.errors import VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import escrow_digest
from backchannel.sdk.session import Session

__all__ = ["EscrowClient"]


class EscrowClient:
    """The escrows of one member: open, read, sign, release."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def open(self, track: str, terms: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Open an escrow (mediator principal) with ``terms``.

        ``terms`` is ``{"escrow_id", "items": [{"what", "amount", "unit", "owner",
        "beneficiary"}], "signers": [party, ...], "threshold", "predicates": [text, ...],
        "expires_at"}`` (``expires_at`` as a canonical timestamp).
        """
        return self._session.execute("open_escrow", {"terms": dict(terms)}, track=track)

    def get(self, track: str, escrow_id: str) -> dict[str, Any]:
        """``GET .../escrows/{escrow_id}``: the terms, digest, signatures, status and check now."""
        return self._session.get_json(f"/v1/tracks/{track}/escrows/{escrow_id}")

    def sign_release(self, track: str, escrow_id: str) -> dict[str, Any]:
        """Sign the release of an escrow (a principal of a signer party), naming its digest.

        The digest is recomputed here from the terms the service shows.

        Raises:
            VerificationError: the service's digest is not that of the terms it shows.
        """
        shown = self.get(track, escrow_id)
        digest = escrow_digest(EscrowTerms.from_dict(shown["terms"])).hex()
        if digest != shown["escrow_digest"]:
            raise VerificationError(
                f"escrow {escrow_id}: the service names digest {shown['escrow_digest']}, "
                f"but the terms it shows hash to {digest}"
            )
        body: dict[str, JSONValue] = {"escrow_id": escrow_id, "escrow_digest": digest}
        return self._session.execute("sign_escrow_release", body, track=track)

    def release(self, track: str, escrow_id: str) -> dict[str, Any]:
        """Ask for the release: refused (409 ``escrow-condition-unmet``, ``progress``) unless it holds now."""
        return self._session.execute("release_escrow", {"escrow_id": escrow_id}, track=track)
