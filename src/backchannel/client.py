"""The Python SDK: sign commands and requests, verify what the service returns.

:class:`BackchannelClient` speaks the HTTP API of :mod:`backchannel.api`:

- :meth:`~BackchannelClient.execute` signs a command (ADR-0011) and the
  request carrying it (RFC 9421). On a connection error or a 503 it retries
  the *same* signed command, so the same idempotency key (one is generated
  when the caller gives none), with a fresh RFC 9421 nonce per attempt.
- :meth:`~BackchannelClient.events` returns the visible entries and checks
  every leaf hash against the entry and salt it came with.
- :meth:`~BackchannelClient.checkpoint` verifies the signed note with the
  pinned log key (or, trust on first use, the one ``GET /v1/service`` names),
  keeps the last checkpoint seen per track and verifies a consistency proof
  from it to every newer one. Two checkpoints that cannot both be true raise
  :class:`ForkDetectedError`, carrying both notes as evidence.
- :meth:`~BackchannelClient.verify_inclusion` proves an entry is in the log
  the latest verified checkpoint commits to.
- :meth:`~BackchannelClient.receipt_proofs` fetches the proof of receipt of one
  of the party's own messages and verifies it for each recipient party
  (:mod:`backchannel.receipt_proofs`): the delivery and receipt entries are in
  the verified log, and the receipt is the recipient's own signed
  ``record_receipt`` naming the message at the index that delivered it.

**Witnesses** (ADR-0019). Given ``witnesses={name: key}`` (a
:class:`~backchannel.log.signing.VerifyingKey` or C2SP vkey text per witness
member id) and ``witness_quorum=k`` (default: all of them), the client trusts
a checkpoint only once *k* known witnesses have cosigned it validly (C2SP
``cosignature/v1``). :meth:`~BackchannelClient.checkpoint` then returns the
newest checkpoint that meets the quorum (asking the service for
``?cosigned=k`` when the latest one does not yet) and raises
:class:`~backchannel.log.cosignature.InsufficientCosignaturesError`, naming how
many valid cosignatures it found and how many it requires, when there is none.
A log-signed checkpoint inconsistent with one already trusted still raises
:class:`ForkDetectedError` with both notes, cosigned or not: the log's own
signatures prove the split view. Everything built on :meth:`checkpoint`
(:meth:`~BackchannelClient.verify_inclusion`, consistency) uses trusted
checkpoints only. :meth:`~BackchannelClient.fetch_checkpoint`,
:meth:`~BackchannelClient.consistency_proof` and
:meth:`~BackchannelClient.add_cosignature` are what a witness program
(:mod:`backchannel.witness`) is built on.

Problem responses raise :class:`ProblemError` (status, ``type`` and the whole
problem body).

**Annexes** (ADR-0014, :mod:`backchannel.annexes`).
:meth:`~BackchannelClient.upload_annex` stores a blob and returns its digest,
the value to put in a message's ``annexes``;
:meth:`~BackchannelClient.fetch_annex` returns a blob after checking that it
hashes to the digest asked for. :meth:`~BackchannelClient.upload_sealed`
seals an annex to every active member of a party (keys from
:meth:`~BackchannelClient.roster`, the membership folded from the visible
log) and uploads one blob per member; :meth:`~BackchannelClient.open_annex`
fetches a blob sealed to this member and opens it with its own X25519 key,
and :meth:`~BackchannelClient.open_own_annex` finds, among a message's
annexes, the one sealed to this member.

**Retrying after the SDK gave up.** :meth:`~BackchannelClient.execute` (and
:meth:`~BackchannelClient.settle`) sign a *new* command on every call. If a
call fails after the SDK's own retries (``httpx.TransportError``), the command
may or may not have been committed. Calling ``execute`` again with the same
idempotency key sends a different digest under that key, and gets
409 ``idempotency-conflict`` if the first one was committed. To retry safely
across such failures, :meth:`~BackchannelClient.sign` once and re-send the
same :class:`~backchannel.wire.SignedCommand` with
:meth:`~BackchannelClient.send_command` until it is answered: a committed one
comes back as a replay of the first result.

**Deals and commitments** (issue #4). :meth:`~BackchannelClient.prepare_deal`
(and :meth:`~BackchannelClient.draft_deal`) send a deal's terms; the service
computes the deal hash (:func:`deal_hash`). :meth:`~BackchannelClient.deal`
reads a deal and checks that its hash is the hash of its terms, so
:meth:`~BackchannelClient.vote_deal` signs the hash of the terms this member
was shown, never a hash taken on trust. :meth:`~BackchannelClient.publish_commitment`
draws a 32-byte salt (``secrets``), publishes ``SHA-256(salt || content)`` and
returns a :class:`CommitmentSecret` (id, salt, content) for the caller to keep;
:meth:`~BackchannelClient.reveal_commitment` reveals it.
**Obligations** (ADR-0018). :meth:`~BackchannelClient.define_obligation`
(mediator principal) and :meth:`~BackchannelClient.record_consumption` (an
inspector, or the service) sign the two commands;
:meth:`~BackchannelClient.obligation` reads ``GET .../obligations/{id}``: the
terms, the current level and tokens, and the ladder history.

**Inbox.** :meth:`~BackchannelClient.lease`, :meth:`~BackchannelClient.poll`
(long poll) and :meth:`~BackchannelClient.stream` (Server-Sent Events, resumable
with ``last_event_id``) return deliveries: ``message_id``, ``log_index``,
``priority``, ``attempt``, ``sender``, ``visible_until``, the log ``entry`` that
queued it (signed event, salt, leaf hash) and, for a verbatim forward, the
author's ``original`` signed command. :meth:`~BackchannelClient.settle` signs a
``record_receipt`` whose items are ``[message_id, log_index]`` pairs, each
naming the log index of the entry that delivered that message (the delivery's
``log_index``), and whose ``receipt_digest`` is :func:`receipt_digest`: SHA-256
of the RFC 8785 canonical JSON array of those pairs, sorted by message id.
This module does not verify a delivery's entry for you: pass
``entry["leaf_hash"]`` to :meth:`~BackchannelClient.verify_inclusion`.

**Attestations and escrow** (ADR-0017). :meth:`~BackchannelClient.define_metric`,
:meth:`~BackchannelClient.attest` and :meth:`~BackchannelClient.attest_daily`
(one value per day for the days before now, in one batch: how a demo back-fills
a window), :meth:`~BackchannelClient.open_escrow`,
:meth:`~BackchannelClient.escrow` (``GET .../escrows/{id}``: terms, signatures
and the check), :meth:`~BackchannelClient.sign_escrow_release` (which
recomputes the escrow's digest from the terms it is shown and refuses to sign
if the service's digest differs) and :meth:`~BackchannelClient.release_escrow`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self, TypeAlias

import httpx

from backchannel.annexes import annex_digest, open_annex, read_sealed, roster, seal_for_party
from backchannel.clock import Clock, SystemClock
from backchannel.domain import TrackState
from backchannel.domain.agreements.commitments import commitment_digest
from backchannel.domain.agreements.deals import Deal
from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.domain.receipts import ReceiptItem
from backchannel.errors import (
    BackchannelError,
    ConfigurationError,
    EncodingError,
    NotFoundError,
    VerificationError,
)
from backchannel.httpsig import sign_request
from backchannel.keyfile import KeyPair
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.checkpoint import Checkpoint, NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import CosignatureVerifier, InsufficientCosignaturesError, WitnessPolicy
from backchannel.log.merkle import verify_consistency
from backchannel.log.merkle import verify_inclusion as merkle_verify_inclusion
from backchannel.log.records import LogEntry, format_timestamp
from backchannel.log.signing import VerifyingKey
from backchannel.receipt_proofs import ReceiptProof, verify_receipt_proof
from backchannel.wire import SignedCommand, escrow_digest, sign_command
from backchannel.wire import deal_hash as _deal_hash
from backchannel.wire import receipt_digest as wire_receipt_digest

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

SALT_BYTES = 32
"""The salt :meth:`BackchannelClient.publish_commitment` draws (the domain needs at least 16 bytes)."""

_RETRYABLE_STATUS = frozenset({503})


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


class BackchannelClient:
    """A member's client of one backchannel service.

    Args:
        base_url: The service's public origin (what its RFC 9421 target URIs use).
        member: The member id (``party/name``).
        keys: The member's keys (the signing key signs commands and requests).
        transport: An httpx transport (tests: ``MockTransport``, an ASGI app).
        clock: The signing clock (default: the system clock).
        pinned_log_key: The log's note verifier key; if ``None``, the key
            ``GET /v1/service`` names is pinned on first use.
        max_attempts: How many times :meth:`execute` sends a command.
        backoff: The first retry delay in seconds (doubled each retry, capped
            by the service's ``Retry-After``... and 5 s).
        sleep: How to wait between attempts (tests pass a no-op).
        witnesses: Witness member id -> its Ed25519 key (a ``VerifyingKey``, or
            C2SP vkey text of type 0x04 or 0x01 whose name must be the member id).
        witness_quorum: How many of ``witnesses`` must have cosigned a
            checkpoint before it is trusted (default: all of them; 0: none).

    Raises:
        ConfigurationError: a vkey named differently from its witness, or a
            quorum that can never be met.
    """

    def __init__(  # noqa: PLR0913 - connection, identity, trust anchors and retry policy, keyword-only
        self,
        base_url: str,
        member: str,
        keys: KeyPair,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        pinned_log_key: str | None = None,
        max_attempts: int = 4,
        backoff: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        witnesses: Mapping[str, VerifyingKey | str] | None = None,
        witness_quorum: int | None = None,
    ) -> None:
        """Create the client."""
        self.member = member
        self.keys = keys
        self._clock: Clock = clock or SystemClock()
        self._http = httpx.Client(base_url=base_url.rstrip("/"), transport=transport)
        self._log_key = None if pinned_log_key is None else NoteVerifier.from_vkey(pinned_log_key)
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._sleep = sleep
        self._checkpoints: dict[str, SignedCheckpoint] = {}
        self._witnesses = witness_policy(witnesses or {}, witness_quorum)

    @property
    def witnesses(self) -> WitnessPolicy:
        """The witness policy checkpoints must meet before they are trusted."""
        return self._witnesses

    @property
    def clock(self) -> Clock:
        """The clock this client signs with (``issued_at``, RFC 9421 ``created``, default times)."""
        return self._clock

    # --- lifecycle --------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close on exit."""
        self.close()

    # --- transport --------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, int] | None = None,
        body: bytes = b"",
        content_type: str = "application/json",
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if body else {}
        request = self._http.build_request(method, path, params=params, content=body, headers=headers)
        request.headers.update(
            sign_request(
                method,
                str(request.url),
                {},
                body,
                key=self.keys.signing,
                created=self._clock.now(),
                nonce=secrets.token_urlsafe(18),
            )
        )
        return self._http.send(request)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if response.is_success:
            data = response.json()
            if not isinstance(data, dict):
                raise EncodingError(f"expected a JSON object from {response.request.url}")
            return data
        retry_after = response.headers.get("retry-after")
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:500]}
        if not isinstance(problem, dict):
            problem = {"detail": str(problem)[:500]}
        raise ProblemError(
            response.status_code,
            problem,
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )

    def _get(self, path: str, **params: int) -> dict[str, Any]:
        return self._json(self._send("GET", path, params=params))

    def _post_json(self, path: str, body: Mapping[str, JSONValue]) -> tuple[int, dict[str, Any]]:
        response = self._send("POST", path, body=canonicalize(dict(body)))
        return response.status_code, self._json(response)

    # --- commands ---------------------------------------------------------
    def sign(
        self, command: str, body: Mapping[str, JSONValue], *, track: str, idempotency_key: str | None = None
    ) -> SignedCommand:
        """Sign a command as this member (no request is sent)."""
        return sign_command(
            self.keys.signing,
            track=track,
            command=command,
            member=self.member,
            body=body,
            issued_at=self._clock.now(),
            nonce=secrets.token_urlsafe(18),
            idempotency_key=idempotency_key,
        )

    def execute(
        self, command: str, body: Mapping[str, JSONValue], *, track: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and send a command; retry transient failures with the same signed command.

        Returns:
            ``{"events", "first_index", "checkpoint", "replayed"}``.

        Raises:
            ProblemError: the service refused the command (or stayed unavailable).
            httpx.TransportError: the service could not be reached on any attempt.
        """
        signed = self.sign(command, body, track=track, idempotency_key=idempotency_key or _new_key())
        return self.send_command(signed)

    def send_command(self, signed: SignedCommand) -> dict[str, Any]:
        """Send an already signed command (with the same retry policy as :meth:`execute`)."""
        return self._post_retrying(f"/v1/tracks/{signed.track}/commands", canonicalize(signed.to_dict()))

    def execute_many(
        self, commands: Iterable[tuple[str, Mapping[str, JSONValue]]], *, track: str
    ) -> list[dict[str, Any]]:
        """Sign ``(command, body)`` pairs, each with a fresh idempotency key, and send them as one batch.

        See :meth:`send_batch`.
        """
        signed = [self.sign(name, body, track=track, idempotency_key=_new_key()) for name, body in commands]
        return self.send_batch(signed)

    def send_batch(self, commands: Sequence[SignedCommand]) -> list[dict[str, Any]]:
        """Send this member's signed commands for one track as one batch (group commit).

        The service decides them in order, each as if sent alone, and appends them
        together (one transaction, one fsync). Retries follow :meth:`execute`'s
        policy; a retried batch is safe when its commands carry idempotency keys.

        Returns:
            One item per command, in order: ``{"status": 201 | 200, "result": {...}}``
            (``result`` as :meth:`execute` returns it) or ``{"status": 4xx, "problem": {...}}``.

        Raises:
            ValueError: no commands, or commands for more than one track.
            ProblemError: the service refused the whole batch (or stayed unavailable).
            httpx.TransportError: the service could not be reached on any attempt.
        """
        tracks = {signed.track for signed in commands}
        if len(tracks) != 1:
            raise ValueError(f"a batch holds commands for exactly one track, got {sorted(tracks)}")
        body: dict[str, JSONValue] = {"commands": [signed.to_dict() for signed in commands]}
        results = self._post_retrying(f"/v1/tracks/{tracks.pop()}/commands/batch", canonicalize(body))[
            "results"
        ]
        if not isinstance(results, list) or len(results) != len(commands):
            raise EncodingError("the batch response does not hold one result per command")
        return results

    def _post_retrying(self, path: str, content: bytes) -> dict[str, Any]:
        delay = self._backoff
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self._send("POST", path, body=content)
            except httpx.TransportError:
                if last:
                    raise
                self._sleep(delay)
            else:
                if response.status_code not in _RETRYABLE_STATUS or last:
                    return self._json(response)
                retry_after = response.headers.get("retry-after", "")
                self._sleep(min(5.0, float(retry_after) if retry_after.isdigit() else delay))
            delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    # --- reads ------------------------------------------------------------
    def service_info(self) -> dict[str, Any]:
        """``GET /v1/service``: the node's keys and the log key (unauthenticated)."""
        return self._json(self._http.get("/v1/service"))

    def events(self, track: str, after: int = 0) -> list[dict[str, Any]]:
        """Every entry visible to this member from index ``after`` on, leaf hashes checked.

        Raises:
            VerificationError: an entry whose leaf hash is not that of its event and salt.
        """
        found: list[dict[str, Any]] = []
        cursor = after
        while True:
            page = self._get(f"/v1/tracks/{track}/events", after=cursor, limit=1000)
            for item in page["entries"]:
                entry = LogEntry.from_dict({"signed": item["signed"], "salt": item["salt"]})
                if entry.leaf_hash.hex() != item["leaf_hash"] or entry.seq != item["index"]:
                    raise VerificationError(
                        f"entry {item['index']}: its leaf hash is not that of its event and salt",
                        index=item["index"],
                    )
                found.append(item)
            if page["next"] <= cursor or page["next"] >= page["size"]:
                return found
            cursor = page["next"]

    def _verifier(self) -> NoteVerifier:
        if self._log_key is None:
            self._log_key = NoteVerifier.from_vkey(self.service_info()["log_key"])
        return self._log_key

    def checkpoint(self, track: str) -> Checkpoint:
        """Fetch, verify and remember the track's newest trusted checkpoint.

        Trusted means: signed by the log key, consistent with the last
        checkpoint trusted before, and cosigned by the witness quorum (see the
        module docstring). The latest checkpoint is fetched first; if it lacks
        the quorum, the newest one that has it (``?cosigned=k``).

        Raises:
            VerificationError: the note is not signed by the log key.
            ForkDetectedError: it is inconsistent with the last checkpoint trusted
                (or with the latest one the service shows); both notes attached.
            InsufficientCosignaturesError: no checkpoint meets the witness quorum.
        """
        note = self.fetch_checkpoint(track)
        checkpoint = self._verifier().verify(note)
        previous = self._checkpoints.get(track)
        if previous is not None:
            self.check_consistency(track, previous, note)
        if not self._witnesses.check(note).satisfied:
            note = self._cosigned(track, note)
            checkpoint = note.checkpoint
        if previous is not None and previous.checkpoint.size > checkpoint.size:
            return previous.checkpoint  # an older view: consistent, but keep the newest
        self._checkpoints[track] = note
        return checkpoint

    def _cosigned(self, track: str, latest: SignedCheckpoint) -> SignedCheckpoint:
        """The newest checkpoint meeting the quorum, checked against ``latest`` and the last trusted one."""
        where = f"track {track!r}"
        try:
            note = self.fetch_checkpoint(track, cosigned=self._witnesses.quorum)
        except ProblemError as e:
            if e.status != 404:
                raise
            self._witnesses.require(latest, origin=where)  # raises, naming what the latest one has
            raise  # pragma: no cover - require raised: the latest one lacks the quorum
        self._verifier().verify(note)
        self.check_consistency(track, note, latest)  # both log-signed: a fork between them is provable
        previous = self._checkpoints.get(track)
        if previous is not None:
            self.check_consistency(track, previous, note)
        self._witnesses.require(note, origin=where)
        return note

    def fetch_checkpoint(self, track: str, *, cosigned: int | None = None) -> SignedCheckpoint:
        """``GET .../checkpoint``: the latest signed note (``cosigned=k``: the newest with k cosignatures).

        Nothing is verified or remembered: :meth:`checkpoint` does both.

        Raises:
            ProblemError: 404 when there is no such checkpoint.
            EncodingError: the note does not parse.
        """
        params = {} if cosigned is None else {"cosigned": cosigned}
        return SignedCheckpoint.from_text(self._get(f"/v1/tracks/{track}/checkpoint", **params)["checkpoint"])

    def consistency_proof(self, track: str, old: int, new: int) -> list[bytes]:
        """``GET .../proofs/consistency``: the RFC 9162 proof from size ``old`` to ``new`` (not verified)."""
        answer = self._get(f"/v1/tracks/{track}/proofs/consistency", old=old, new=new)
        return [bytes.fromhex(h) for h in answer["proof"]]

    def add_cosignature(self, track: str, size: int, line: str) -> dict[str, Any]:
        """``POST .../checkpoints/{size}/cosignatures``: submit this witness member's cosignature line.

        Returns:
            ``{"track", "size", "cosigner", "timestamp", "checkpoint"}`` plus
            ``"created"``: False when an equal or newer cosignature was already kept.

        Raises:
            ProblemError: refused (403 not a witness, 422 a line that does not verify, ...).
        """
        status, answer = self._post_json(
            f"/v1/tracks/{track}/checkpoints/{size}/cosignatures", {"cosignature": line}
        )
        return {**answer, "created": status == 201}

    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        """The newest signed checkpoint this client has verified for ``track`` (``None`` if none yet)."""
        return self._checkpoints.get(track)

    def check_consistency(self, track: str, a: SignedCheckpoint, b: SignedCheckpoint) -> None:
        """Prove two signed checkpoints of ``track`` consistent (one log, the smaller a prefix).

        Both notes must already be verified (:meth:`checkpoint` does that).

        Raises:
            ForkDetectedError: they are not consistent; both notes are attached as evidence.
        """
        old, new = sorted((a, b), key=lambda n: n.checkpoint.size)
        proof: list[bytes] = []
        if old.checkpoint.size not in {0, new.checkpoint.size}:
            proof = self.consistency_proof(track, old.checkpoint.size, new.checkpoint.size)
        try:
            if old.checkpoint.size == 0:
                return  # the empty tree is a prefix of every tree
            verify_consistency(
                old.checkpoint.size, new.checkpoint.size, old.checkpoint.root, new.checkpoint.root, proof
            )
        except VerificationError as e:
            raise ForkDetectedError(
                f"track {track!r}: the log forked: checkpoints of sizes {a.checkpoint.size} and "
                f"{b.checkpoint.size} are not consistent ({e})",
                old_note=a.to_text(),
                new_note=b.to_text(),
            ) from e

    def verify_inclusion(self, track: str, index: int, leaf_hash: bytes | str) -> Checkpoint:
        """Prove that entry ``index`` with ``leaf_hash`` is in the latest verified checkpoint.

        Returns:
            The checkpoint the proof is against.

        Raises:
            VerificationError: the proof does not lead to the checkpoint's root
                (or the checkpoint itself fails, see :meth:`checkpoint`).
        """
        leaf = bytes.fromhex(leaf_hash) if isinstance(leaf_hash, str) else leaf_hash
        checkpoint = self.checkpoint(track)
        answer = self._get(f"/v1/tracks/{track}/proofs/inclusion", index=index, size=checkpoint.size)
        proof = [bytes.fromhex(h) for h in answer["proof"]]
        merkle_verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
        return checkpoint

    # --- the negotiating text (ADR-0020) -----------------------------------
    def draft_text(self, track: str, doc: str, text: str, *, title: str) -> dict[str, Any]:
        """Sign and send ``draft_text``: version 1 of a new document (see :meth:`execute`)."""
        return self.execute("draft_text", {"doc": doc, "title": title, "text": text}, track=track)

    def edit_text(self, track: str, doc: str, text: str, *, base_version: int) -> dict[str, Any]:
        """Sign and send ``edit_text`` based on ``base_version``.

        Raises:
            ProblemError: 409 ``stale-text-version`` when ``base_version`` is not the current
                version; the problem's ``current`` names it (the edit is never merged).
        """
        body: dict[str, JSONValue] = {"doc": doc, "base_version": base_version, "text": text}
        return self.execute("edit_text", body, track=track)

    def set_text_policy(self, track: str, policy: str) -> dict[str, Any]:
        """Sign and send ``set_text_policy`` (``mediator-only`` or ``shared``; the mediator's principal)."""
        return self.execute("set_text_policy", {"policy": policy}, track=track)

    def comment_text(self, track: str, doc: str, text: str, *, version: int) -> dict[str, Any]:
        """Sign and send ``comment_text`` on ``version``: read by the mediator and this party only."""
        return self.execute("comment_text", {"doc": doc, "version": version, "text": text}, track=track)

    def texts(self, track: str) -> dict[str, Any]:
        """``GET .../texts``: ``{"policy", "documents": [{"doc", "title", "version", ...}]}``."""
        return self._get(f"/v1/tracks/{track}/texts")

    def text(self, track: str, doc: str, version: int | None = None) -> dict[str, Any]:
        """``GET .../texts/{doc}``: a version (default: the current one), its text digest checked.

        Raises:
            VerificationError: the text does not hash to the digest the service sent.
        """
        params = {} if version is None else {"version": version}
        answer = self._get(f"/v1/tracks/{track}/texts/{doc}", **params)
        if hashlib.sha256(str(answer["text"]).encode("utf-8")).hexdigest() != answer["text_digest"]:
            raise VerificationError(f"text {doc!r} v{answer['version']}: the text does not match its digest")
        return answer

    def text_diff(self, track: str, doc: str, old: int, new: int) -> str:
        """``GET .../texts/{doc}/diff?from=old&to=new``: a unified diff (``""`` when equal)."""
        answer = self._json(
            self._send("GET", f"/v1/tracks/{track}/texts/{doc}/diff", params={"from": old, "to": new})
        )
        return str(answer["diff"])

    def text_comments(self, track: str, doc: str) -> list[dict[str, Any]]:
        """``GET .../texts/{doc}/comments``: the comments this member may read."""
        return list(self._get(f"/v1/tracks/{track}/texts/{doc}/comments")["comments"])

    # --- annexes ----------------------------------------------------------
    def upload_annex(self, track: str, data: bytes) -> str:
        """``PUT .../annexes/{digest}``: store a blob (plain or sealed); return its digest (hex).

        Uploading the same bytes again is harmless.

        Raises:
            ProblemError: refused (413 over the service's limit, 404 unknown track, ...).
        """
        digest = annex_digest(data)
        path = f"/v1/tracks/{track}/annexes/{digest}"
        self._json(self._send("PUT", path, body=data, content_type="application/octet-stream"))
        return digest

    def fetch_annex(self, track: str, digest: str) -> bytes:
        """``GET .../annexes/{digest}``: a blob, checked to hash to ``digest``.

        Raises:
            ProblemError: 404 for a blob that does not exist or that this member may not read.
            VerificationError: the bytes returned do not hash to ``digest``.
        """
        response = self._send("GET", f"/v1/tracks/{track}/annexes/{digest}")
        if not response.is_success:
            self._json(response)  # raises the problem
        data = response.content
        if annex_digest(data) != digest:
            raise VerificationError(f"annex {digest}: the service returned bytes with another SHA-256")
        return data

    def roster(self, track: str) -> TrackState:
        """The track's parties, members and keys, folded from the entries this member may read.

        Raises:
            NotFoundError: this member sees no membership events (a witness).
        """
        return roster(self.events(track))

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
        blobs = seal_for_party(data, track=track, state=self.roster(track), party=party)
        return {member: self.upload_annex(track, blob) for member, blob in blobs.items()}

    def open_annex(self, track: str, digest: str) -> bytes:
        """Fetch the blob ``digest`` and open it with this member's X25519 key.

        Raises:
            ProblemError: the blob cannot be fetched.
            EncodingError: it is not a sealed annex.
            VerificationError: it is not sealed to this member (or was altered).
        """
        blob = self.fetch_annex(track, digest)
        return open_annex(blob, track=track, member=self.member, key=self.keys.agreement)

    def open_own_annex(self, track: str, digests: Iterable[str]) -> bytes:
        """Among a message's annexes, open the one sealed to this member's key.

        Raises:
            NotFoundError: none of them is a sealed annex to this member's key.
            VerificationError: the one sealed to this key does not open.
        """
        for digest in digests:
            blob = self.fetch_annex(track, digest)
            try:
                sealed = read_sealed(blob)
            except EncodingError:
                continue  # a plain annex
            if sealed.recipient_key_id == self.keys.agreement.key_id:
                return open_annex(blob, track=track, member=self.member, key=self.keys.agreement)
        raise NotFoundError(f"no annex among these is sealed to {self.member}'s key")

    def receipt_proofs(self, track: str, message_id: str) -> list[ReceiptProof]:
        """Fetch and verify the proof of receipt of one of this member's party's messages.

        ``GET .../messages/{message_id}/receipts`` gives one proof per recipient
        party. Each is checked by :func:`~backchannel.receipt_proofs.verify_receipt_proof`
        against the latest checkpoint (verified, and consistent with every one
        seen before: :meth:`checkpoint`): the delivery and receipt entries are in
        the log, the receipt is the recipient's own ``record_receipt`` whose
        signature verifies under the key given (its id the one the command
        names), whose ``receipt_digest`` matches its items, and whose items
        name this message at the log index that delivered it.

        Returns:
            One proof per recipient party, in delivery order; parties that have not
            settled are ``pending`` or ``dead_lettered`` (their delivery is still proven).

        Raises:
            VerificationError: any check failed (``ForkDetectedError`` if the log forked).
            ProblemError: 404 for a message that does not exist or is not this party's
                (the mediator may ask about any).
        """
        answer = self._get(f"/v1/tracks/{track}/messages/{message_id}/receipts")
        if answer.get("track") != track or answer.get("message_id") != message_id:
            raise VerificationError(
                f"asked for the receipts of {message_id} on {track!r}, got another answer"
            )
        checkpoint = self.checkpoint(track)  # after the answer: the log only grows, so it covers the entries

        def inclusion(index: int) -> list[bytes]:
            found = self._get(f"/v1/tracks/{track}/proofs/inclusion", index=index, size=checkpoint.size)
            return [bytes.fromhex(h) for h in found["proof"]]

        proofs = [
            verify_receipt_proof(
                p, track=track, message_id=message_id, checkpoint=checkpoint, inclusion=inclusion
            )
            for p in answer["receipts"]
        ]
        parties = [p.party for p in proofs]
        if len(set(parties)) != len(parties):
            raise VerificationError(f"the receipts of {message_id} name a party twice: {parties}")
        return proofs

    # --- obligations ------------------------------------------------------
    def define_obligation(self, track: str, terms: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Sign and send ``define_obligation`` with ``terms`` (the command's body; mediator principal).

        ``terms``: ``obligation``, ``party``, ``metric``, ``unit``, ``rate``,
        ``burst`` (numbers in ``unit``), ``period_seconds``, ``ladder``,
        ``hold_seconds``, ``recovery_pct`` and optionally ``shared_with``
        (default: none).
        """
        body: dict[str, JSONValue] = {"shared_with": [], **terms}
        return self.execute("define_obligation", body, track=track)

    def record_consumption(  # noqa: PLR0913 - the record's fields, by name
        self,
        track: str,
        obligation: str,
        amount: float,
        unit: str,
        *,
        observed_at: datetime | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Sign and send ``record_consumption`` (an inspector, or the service); observed now by default."""
        body: dict[str, JSONValue] = {
            "obligation": obligation,
            "amount": amount,
            "unit": unit,
            "observed_at": format_timestamp(observed_at or self._clock.now()),
            "source": source,
        }
        return self.execute("record_consumption", body, track=track)

    def obligation(self, track: str, obligation: str) -> dict[str, Any]:
        """``GET .../obligations/{id}``: the terms, level, tier, tokens, next step down and history.

        Raises:
            ProblemError: 404 for an obligation that does not exist or that this member may not see.
        """
        return self._get(f"/v1/tracks/{track}/obligations/{obligation}")

    # --- inbox ------------------------------------------------------------
    def _signed_request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, timeout: float = 5.0
    ) -> httpx.Request:
        request = self._http.build_request(method, path, params=params, timeout=timeout)
        request.headers.update(
            sign_request(
                method,
                str(request.url),
                {},
                b"",
                key=self.keys.signing,
                created=self._clock.now(),
                nonce=secrets.token_urlsafe(18),
            )
        )
        return request

    def lease(self, track: str, max_n: int | None = None) -> list[dict[str, Any]]:
        """``POST .../inbox/lease``: lease this member's party's ready deliveries (at most ``max_n``)."""
        params = {} if max_n is None else {"max": max_n}
        answer = self._json(self._send("POST", f"/v1/tracks/{track}/inbox/lease", params=params))
        return list(answer["deliveries"])

    def poll(self, track: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """``GET .../inbox/poll``: wait up to ``timeout`` seconds for deliveries (``[]`` if none)."""
        request = self._signed_request(
            "GET", f"/v1/tracks/{track}/inbox/poll", params={"timeout": timeout}, timeout=timeout + 10
        )
        return list(self._json(self._http.send(request))["deliveries"])

    def stream(
        self, track: str, last_event_id: int | None = None, timeout: float = 30.0
    ) -> Iterator[dict[str, Any]]:
        """``GET .../inbox/stream``: yield deliveries as Server-Sent Events arrive.

        The iteration ends when the service ends the stream (after ``timeout``
        seconds). To resume, call again with the last ``log_index`` seen as
        ``last_event_id``: deliveries leased before and possibly missed are sent again.

        Raises:
            ProblemError: the service refused the request.
        """
        request = self._signed_request(
            "GET", f"/v1/tracks/{track}/inbox/stream", params={"timeout": timeout}, timeout=timeout + 20
        )
        if last_event_id is not None:
            request.headers["Last-Event-ID"] = str(last_event_id)
        response = self._http.send(request, stream=True)
        try:
            if not response.is_success:
                response.read()
                self._json(response)
            for _, event, data in _sse_events(response.iter_lines()):
                if event == "delivery":
                    value = json.loads(data)
                    if not isinstance(value, dict):
                        raise EncodingError("a delivery event's data is not a JSON object")
                    yield value
        finally:
            response.close()

    def heartbeat(self, track: str) -> dict[str, Any]:
        """``POST .../heartbeat``: tell the service this member is alive."""
        return self._json(self._send("POST", f"/v1/tracks/{track}/heartbeat"))

    def presence(self, track: str) -> list[dict[str, Any]]:
        """``GET .../presence``: every party's liveness (mediator only)."""
        return list(self._get(f"/v1/tracks/{track}/presence")["parties"])

    # --- deals (issue #4) ---------------------------------------------------
    def draft_deal(self, track: str, deal: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Sign and send ``draft_deal`` (mediator principal): circulate or revise a deal before its vote."""
        return self.execute("draft_deal", {"deal": deal}, track=track)

    def prepare_deal(
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
        return self.execute("prepare_deal", body, track=track, idempotency_key=idempotency_key)

    def deal(self, track: str, deal_id: str) -> dict[str, Any]:
        """``GET .../deals/{deal_id}``: the deal, its hash, status, voters, votes and outcome.

        Raises:
            ProblemError: 404 for a deal that does not exist or that this member may not see.
            VerificationError: the service's hash is not the hash of the terms it returned.
        """
        view = self._get(f"/v1/tracks/{track}/deals/{deal_id}")
        if deal_hash(view["deal"]) != view["deal_hash"]:
            raise VerificationError(f"deal {deal_id}: the service's hash is not the hash of its terms")
        return view

    def deals(self, track: str) -> list[dict[str, Any]]:
        """``GET .../deals``: every deal this member may see (id, title, status, revision, deadline)."""
        return list(self._get(f"/v1/tracks/{track}/deals")["deals"])

    def vote_deal(
        self,
        track: str,
        deal_id: str,
        vote: bool | str,
        *,
        deal_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Sign and send ``vote_deal`` (a delegation principal): YES (``True``/``"yes"``) or NO.

        Without ``deal_hash`` the deal is read first (:meth:`deal`, which checks the
        hash against the terms) and its hash signed.
        """
        choice = ("yes" if vote else "no") if isinstance(vote, bool) else vote
        signed_hash = deal_hash if deal_hash is not None else self.deal(track, deal_id)["deal_hash"]
        body: dict[str, JSONValue] = {"deal_id": deal_id, "deal_hash": signed_hash, "vote": choice}
        return self.execute("vote_deal", body, track=track, idempotency_key=idempotency_key)

    # --- commitments (issue #4) --------------------------------------------
    def publish_commitment(
        self, track: str, label: str, content: str, *, salt: bytes | None = None
    ) -> CommitmentSecret:
        """Publish ``SHA-256(salt || content)`` under ``label`` with a fresh 32-byte salt (or ``salt``).

        Returns:
            The secret to keep for :meth:`reveal_commitment` (its id, salt and content).
        """
        chosen = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        body: dict[str, JSONValue] = {"label": label, "commitment": commitment_digest(chosen, content).hex()}
        result = self.execute("publish_commitment", body, track=track)
        commitment_id = str(result["events"][0]["command_digest"])
        return CommitmentSecret(track, commitment_id, label, chosen, content)

    def reveal_commitment(self, secret: CommitmentSecret) -> dict[str, Any]:
        """Reveal a commitment: the service checks ``SHA-256(salt || content)`` against the published hash."""
        body: dict[str, JSONValue] = {
            "commitment_id": secret.commitment_id,
            "salt": secret.salt.hex(),
            "content": secret.content,
        }
        return self.execute("reveal_commitment", body, track=secret.track)

    def settle(
        self, track: str, deliveries: Iterable[Receivable], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and send one ``record_receipt`` for ``deliveries``.

        Args:
            track: The track.
            deliveries: What to receipt: deliveries as :meth:`lease` returns them,
                ``(message_id, log_index)`` pairs or
                :class:`~backchannel.domain.receipts.ReceiptItem` s. Each names the
                log index of the entry that delivered the message to this party.
            idempotency_key: A retry key (one is generated when ``None``).

        The receipt's ``items`` are the distinct pairs, in the order given, and its
        ``receipt_digest`` is :func:`receipt_digest` of them. A receipt for messages
        already settled for this party is a no-op (``replayed``).
        """
        items = receipt_items(deliveries)
        body: dict[str, JSONValue] = {
            "items": [item.to_json() for item in items],
            "receipt_digest": receipt_digest(items).hex(),
        }
        return self.execute("record_receipt", body, track=track, idempotency_key=idempotency_key)

    # --- attestations and escrow (ADR-0017) --------------------------------
    def define_metric(  # noqa: PLR0913 - the metric's rule, by name
        self,
        track: str,
        metric: str,
        *,
        unit: str,
        inspectors: Sequence[str],
        quorum: int,
        tolerance: float,
        tolerance_kind: str = "absolute",
        window_seconds: int = 86400,
        issue: str | None = None,
    ) -> dict[str, Any]:
        """Define a metric and its quorum rule (mediator principal): ``metric.defined``."""
        body: dict[str, JSONValue] = {
            "metric": metric, "unit": unit, "issue": issue, "inspectors": list(inspectors), "quorum": quorum,
            "tolerance": tolerance, "tolerance_kind": tolerance_kind, "window_seconds": window_seconds,
        }  # fmt: skip
        return self.execute("define_metric", body, track=track)

    def attest(  # noqa: PLR0913 - the measurement, by name
        self,
        track: str,
        metric: str,
        value: float,
        *,
        unit: str,
        site: str,
        observed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """File an attestation (inspector): ``attestation.filed``, and any conflict or quorum it causes.

        A quorum is followed by the metering of every obligation on the metric
        (``obligation.metered``, ``obligation.escalated``: ADR-0018).
        ``observed_at`` defaults to now (this client's clock).
        """
        return self.execute(
            "file_attestation",
            _attestation(metric, value, unit, site, observed_at or self._clock.now()),
            track=track,
        )

    def attest_daily(  # noqa: PLR0913 - the measurements, by name
        self,
        track: str,
        metric: str,
        values: Sequence[float],
        *,
        unit: str,
        site: str,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """File ``values[i]`` as observed ``len(values) - i`` days before ``end`` (default now), in one batch.

        The last value is for the day before ``end``: a window of whole days that
        ends with the day just past (see :meth:`send_batch` for the results).
        """
        end = end or self._clock.now()
        days = len(values)
        return self.execute_many(
            (
                ("file_attestation", _attestation(metric, v, unit, site, end - timedelta(days=days - i)))
                for i, v in enumerate(values)
            ),
            track=track,
        )

    def open_escrow(self, track: str, terms: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Open an escrow (mediator principal) with ``terms``.

        ``terms`` is ``{"escrow_id", "items": [{"what", "amount", "unit", "owner",
        "beneficiary"}], "signers": [party, ...], "threshold", "predicates": [text, ...],
        "expires_at"}`` (``expires_at`` as a canonical timestamp).
        """
        return self.execute("open_escrow", {"terms": dict(terms)}, track=track)

    def escrow(self, track: str, escrow_id: str) -> dict[str, Any]:
        """``GET .../escrows/{escrow_id}``: the terms, digest, signatures, status and check now."""
        return self._get(f"/v1/tracks/{track}/escrows/{escrow_id}")

    def sign_escrow_release(self, track: str, escrow_id: str) -> dict[str, Any]:
        """Sign the release of an escrow (a principal of a signer party), naming its digest.

        The digest is recomputed here from the terms the service shows.

        Raises:
            VerificationError: the service's digest is not that of the terms it shows.
        """
        shown = self.escrow(track, escrow_id)
        digest = escrow_digest(EscrowTerms.from_dict(shown["terms"])).hex()
        if digest != shown["escrow_digest"]:
            raise VerificationError(
                f"escrow {escrow_id}: the service names digest {shown['escrow_digest']}, "
                f"but the terms it shows hash to {digest}"
            )
        body: dict[str, JSONValue] = {"escrow_id": escrow_id, "escrow_digest": digest}
        return self.execute("sign_escrow_release", body, track=track)

    def release_escrow(self, track: str, escrow_id: str) -> dict[str, Any]:
        """Ask for the release: refused (409 ``escrow-condition-unmet``, ``progress``) unless it holds now."""
        return self.execute("release_escrow", {"escrow_id": escrow_id}, track=track)


def _attestation(
    metric: str, value: float, unit: str, site: str, observed_at: datetime
) -> dict[str, JSONValue]:
    return {
        "metric": metric,
        "value": value,
        "unit": unit,
        "observed_at": format_timestamp(observed_at),
        "site": site,
    }


Receivable: TypeAlias = Mapping[str, Any] | tuple[str, int] | ReceiptItem
"""What :meth:`BackchannelClient.settle` takes: a delivery, a ``(message_id, log_index)`` pair or an item."""


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


def receipt_items(deliveries: Iterable[Receivable]) -> tuple[ReceiptItem, ...]:
    """The distinct receipt items of ``deliveries`` (see :meth:`BackchannelClient.settle`), in order."""
    items: dict[ReceiptItem, None] = {}
    for delivery in deliveries:
        if isinstance(delivery, ReceiptItem):
            item = delivery
        elif isinstance(delivery, tuple):
            item = ReceiptItem(delivery[0], delivery[1])
        else:
            item = ReceiptItem(str(delivery["message_id"]), int(delivery["log_index"]))
        items[item] = None
    return tuple(items)


def witness_policy(witnesses: Mapping[str, VerifyingKey | str], quorum: int | None = None) -> WitnessPolicy:
    """The policy of ``witnesses`` (member id -> key or vkey text) requiring ``quorum`` (default: all).

    Raises:
        ConfigurationError: a vkey whose name is not its witness's, or a quorum that can never be met.
        EncodingError: malformed vkey text.
    """
    verifiers: list[CosignatureVerifier] = []
    for name, key in witnesses.items():
        verifier = (
            CosignatureVerifier.from_vkey(key) if isinstance(key, str) else CosignatureVerifier(name, key)
        )
        if verifier.name != name:
            raise ConfigurationError(f"witness {name!r}: its vkey names {verifier.name!r}")
        verifiers.append(verifier)
    return WitnessPolicy.of(verifiers, len(verifiers) if quorum is None else quorum)


def receipt_digest(deliveries: Iterable[Receivable]) -> bytes:
    """The ``receipt_digest`` of a receipt for ``deliveries``: :func:`backchannel.wire.receipt_digest`.

    SHA-256 of the RFC 8785 canonical JSON array of the ``[message_id, log_index]``
    pairs, sorted by message id, each naming the log index that delivered that message::

        sha256(canonicalize([["<id a>", 17], ["<id b>", 21]]))
    """
    return wire_receipt_digest(receipt_items(deliveries))


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """Parse Server-Sent Events into ``(id, event, data)``; comments are skipped."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event_id, event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)


def _new_key() -> str:
    return "sdk-" + secrets.token_hex(16)
