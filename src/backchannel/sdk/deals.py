"""Deals and commitments (issue #4): ``client.deals``.

:meth:`DealsClient.prepare` (and :meth:`DealsClient.draft`) send a deal's terms;
the service computes the deal hash (:func:`deal_hash`). :meth:`DealsClient.get`
reads a deal and checks that its hash is the hash of its terms, so
:meth:`DealsClient.vote` signs the hash of the terms this member was shown, never
a hash taken on trust. :meth:`DealsClient.publish_commitment` draws a 32-byte salt
(``secrets``), publishes ``SHA-256(salt || content)`` and returns a
:class:`CommitmentSecret` for the caller to keep;
:meth:`DealsClient.reveal_commitment` reveals it.

This module does not keep secrets on disk (the CLI writes them, 0600).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backchannel.domain.agreements.commitments import commitment_digest
from backchannel.domain.agreements.deals import Deal
from backchannel.errors import EncodingError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.wire import deal_hash as _deal_hash
from backchannel.sdk.session import Session

__all__ = ["SALT_BYTES", "CommitmentSecret", "DealsClient", "deal_hash"]

SALT_BYTES = 32
"""The salt :meth:`DealsClient.publish_commitment` draws (the domain needs at least 16 bytes)."""


class DealsClient:
    """Deals and commitments of one member: sign, send and check."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def draft(self, track: str, deal: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Sign and send ``draft_deal`` (mediator principal): circulate or revise a deal before its vote."""
        return self._session.execute("draft_deal", {"deal": deal}, track=track)

    def prepare(
        self,
        track: str,
        deal: Mapping[str, JSONValue],
        deadline: datetime,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Sign and send ``prepare_deal`` (mediator principal): open the vote until ``deadline``.

        Returns:
            The command's result; its ``deal.prepared`` event names the hash and the voters.
        """
        body: dict[str, JSONValue] = {"deal": deal, "deadline": format_timestamp(deadline)}
        return self._session.execute("prepare_deal", body, track=track, idempotency_key=idempotency_key)

    def get(self, track: str, deal_id: str) -> dict[str, Any]:
        """``GET .../deals/{deal_id}``: the deal, its hash, status, voters, votes and outcome.

        Raises:
            ProblemError: 404 for a deal that does not exist or that this member may not see.
            VerificationError: the service's hash is not the hash of the terms it returned.
        """
        view = self._session.get_json(f"/v1/tracks/{track}/deals/{deal_id}")
        if deal_hash(view["deal"]) != view["deal_hash"]:
            raise VerificationError(f"deal {deal_id}: the service's hash is not the hash of its terms")
        return view

    def list_all(self, track: str) -> list[dict[str, Any]]:
        """``GET .../deals``: every deal this member may see (id, title, status, revision, deadline)."""
        return list(self._session.get_json(f"/v1/tracks/{track}/deals")["deals"])

    def vote(
        self,
        track: str,
        deal_id: str,
        vote: bool | str,
        *,
        deal_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Sign and send ``vote_deal`` (a delegation principal): YES (``True``/``"yes"``) or NO.

        Without ``deal_hash`` the deal is read first (:meth:`get`, which checks the
        hash against the terms) and its hash signed.
        """
        choice = ("yes" if vote else "no") if isinstance(vote, bool) else vote
        signed_hash = deal_hash if deal_hash is not None else self.get(track, deal_id)["deal_hash"]
        body: dict[str, JSONValue] = {"deal_id": deal_id, "deal_hash": signed_hash, "vote": choice}
        return self._session.execute("vote_deal", body, track=track, idempotency_key=idempotency_key)

    def publish_commitment(
        self, track: str, label: str, content: str, *, salt: bytes | None = None
    ) -> CommitmentSecret:
        """Publish ``SHA-256(salt || content)`` under ``label`` with a fresh 32-byte salt (or ``salt``).

        Returns:
            The secret to keep for :meth:`reveal_commitment` (its id, salt and content).
        """
        chosen = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        body: dict[str, JSONValue] = {"label": label, "commitment": commitment_digest(chosen, content).hex()}
        result = self._session.execute("publish_commitment", body, track=track)
        commitment_id = str(result["events"][0]["command_digest"])
        return CommitmentSecret(track, commitment_id, label, chosen, content)

    def reveal_commitment(self, secret: CommitmentSecret) -> dict[str, Any]:
        """Reveal a commitment: the service checks ``SHA-256(salt || content)`` against the published hash."""
        body: dict[str, JSONValue] = {
            "commitment_id": secret.commitment_id,
            "salt": secret.salt.hex(),
            "content": secret.content,
        }
        return self._session.execute("reveal_commitment", body, track=secret.track)


@dataclass(frozen=True, slots=True)
class CommitmentSecret:
    """What a publisher keeps to reveal a commitment later: keep ``salt`` and ``content`` secret until then.

    Attributes:
        track: The track it was published on.
        commitment_id: Its id (the publishing command's digest, hex).
        label: Its label.
        salt: The random salt.
        content: The committed text.
    """

    track: str
    commitment_id: str
    label: str
    salt: bytes
    content: str

    @property
    def commitment(self) -> str:
        """The published hash, ``SHA-256(salt || content)`` in hex."""
        return commitment_digest(self.salt, self.content).hex()

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (the salt in hex), e.g. for a 0600 file."""
        return {
            "track": self.track,
            "commitment_id": self.commitment_id,
            "label": self.label,
            "salt": self.salt.hex(),
            "content": self.content,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> CommitmentSecret:
        """Read the JSON form back.

        Raises:
            EncodingError: a missing field or a salt that is not hex.
        """
        try:
            return cls(
                str(value["track"]),
                str(value["commitment_id"]),
                str(value["label"]),
                bytes.fromhex(str(value["salt"])),
                str(value["content"]),
            )
        except (KeyError, ValueError) as e:
            raise EncodingError(f"not a commitment secret: {e}") from e


def deal_hash(deal: Mapping[str, JSONValue]) -> str:
    """The hash of a deal's terms (hex): SHA-256 of the canonical JSON of its normalised form.

    Raises:
        SchemaViolationError: the terms are malformed (every field named).
    """
    return _deal_hash(Deal.from_dict(deal)).hex()
