"""Annexes (ADR-0014, :mod:`backchannel.protocol.annexes`): ``client.annexes``.

:meth:`AnnexesClient.upload` stores a blob and returns its digest, the value to
put in a message's ``annexes``; :meth:`AnnexesClient.fetch` returns a blob after
checking that it hashes to the digest asked for.
:meth:`AnnexesClient.upload_sealed` seals an annex to every active member of a
party (keys from the roster folded from the visible log) and uploads one blob
per member; :meth:`AnnexesClient.open` fetches a blob sealed to this member and
opens it with its own X25519 key, and :meth:`AnnexesClient.open_own` finds,
among a message's annexes, the one sealed to this member.

This module does not define the sealing format (:mod:`backchannel.protocol.annexes` does).
"""

from __future__ import annotations

from collections.abc import Iterable

from backchannel.errors import EncodingError, NotFoundError, VerificationError
from backchannel.protocol.annexes import annex_digest, open_annex, read_sealed, seal_for_party
from backchannel.sdk.log import LogClient
from backchannel.sdk.session import Session

__all__ = ["AnnexesClient"]


class AnnexesClient:
    """Upload, fetch, seal and open annexes."""

    def __init__(self, session: Session, log: LogClient) -> None:
        """Bind to the client's signed transport and its log reader."""
        self._session = session
        self._log = log

    def upload(self, track: str, data: bytes) -> str:
        """``PUT .../annexes/{digest}``: store a blob (plain or sealed); return its digest (hex).

        Uploading the same bytes again is harmless.

        Raises:
            ProblemError: refused (413 over the service's limit, 404 unknown track, ...).
        """
        digest = annex_digest(data)
        path = f"/v1/tracks/{track}/annexes/{digest}"
        self._session.read_json(
            self._session.send("PUT", path, body=data, content_type="application/octet-stream")
        )
        return digest

    def fetch(self, track: str, digest: str) -> bytes:
        """``GET .../annexes/{digest}``: a blob, checked to hash to ``digest``.

        Raises:
            ProblemError: 404 for a blob that does not exist or that this member may not read.
            VerificationError: the bytes returned do not hash to ``digest``.
        """
        response = self._session.send("GET", f"/v1/tracks/{track}/annexes/{digest}")
        if not response.is_success:
            self._session.read_json(response)  # raises the problem
        data = response.content
        if annex_digest(data) != digest:
            raise VerificationError(f"annex {digest}: the service returned bytes with another SHA-256")
        return data

    def upload_sealed(self, track: str, data: bytes, *, party: str) -> dict[str, str]:
        """Seal ``data`` to every active member of ``party`` and upload each blob.

        Returns:
            Recipient member -> digest of the blob sealed to it (name every digest
            in the message's ``annexes``).

        Raises:
            UnknownPartyError: no such party.
            NotFoundError: the party has no active member.
            ProblemError: an upload was refused.
        """
        blobs = seal_for_party(data, track=track, state=self._log.roster(track), party=party)
        return {member: self.upload(track, blob) for member, blob in blobs.items()}

    def open(self, track: str, digest: str) -> bytes:
        """Fetch the blob ``digest`` and open it with this member's X25519 key.

        Raises:
            ProblemError: the blob cannot be fetched.
            EncodingError: it is not a sealed annex.
            VerificationError: it is not sealed to this member (or was altered).
        """
        blob = self.fetch(track, digest)
        return open_annex(blob, track=track, member=self._session.member, key=self._session.keys.agreement)

    def open_own(self, track: str, digests: Iterable[str]) -> bytes:
        """Among a message's annexes, open the one sealed to this member's key.

        Raises:
            NotFoundError: none of them is a sealed annex to this member's key.
            VerificationError: the one sealed to this key does not open.
        """
        for digest in digests:
            blob = self.fetch(track, digest)
            try:
                sealed = read_sealed(blob)
            except EncodingError:
                continue  # a plain annex
            if sealed.recipient_key_id == self._session.keys.agreement.key_id:
                return open_annex(
                    blob, track=track, member=self._session.member, key=self._session.keys.agreement
                )
        raise NotFoundError(f"no annex among these is sealed to {self._session.member}'s key")
