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
``record_receipt`` whose ``receipt_digest`` is :func:`receipt_digest`:
SHA-256 of the RFC 8785 canonical JSON array of ``[message_id, log_index]``
pairs, one per message, sorted by message id, each pair naming the receipt's
``log_index``. This module does not verify a delivery's entry for you: pass
``entry["leaf_hash"]`` to :meth:`~BackchannelClient.verify_inclusion`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

import httpx

from backchannel.annexes import annex_digest, open_annex, read_sealed, roster, seal_for_party
from backchannel.clock import Clock, SystemClock
from backchannel.domain import TrackState
from backchannel.errors import BackchannelError, EncodingError, NotFoundError, VerificationError
from backchannel.httpsig import sign_request
from backchannel.keyfile import KeyPair
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.checkpoint import Checkpoint, NoteVerifier, SignedCheckpoint
from backchannel.log.merkle import verify_consistency
from backchannel.log.merkle import verify_inclusion as merkle_verify_inclusion
from backchannel.log.records import LogEntry, format_timestamp
from backchannel.wire import SignedCommand, sign_command

__all__ = ["BackchannelClient", "ForkDetectedError", "ProblemError", "receipt_digest"]

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
    """

    def __init__(  # noqa: PLR0913 - connection, identity, trust anchor and retry policy, keyword-only
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
        """Fetch, verify and remember the track's latest checkpoint.

        Raises:
            VerificationError: the note is not signed by the log key.
            ForkDetectedError: it is inconsistent with the last checkpoint seen.
        """
        note = SignedCheckpoint.from_text(self._get(f"/v1/tracks/{track}/checkpoint")["checkpoint"])
        checkpoint = self._verifier().verify(note)
        previous = self._checkpoints.get(track)
        if previous is not None:
            self.check_consistency(track, previous, note)
            if previous.checkpoint.size > checkpoint.size:
                return previous.checkpoint  # an older view: consistent, but keep the newest
        self._checkpoints[track] = note
        return checkpoint

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
            answer = self._get(
                f"/v1/tracks/{track}/proofs/consistency", old=old.checkpoint.size, new=new.checkpoint.size
            )
            proof = [bytes.fromhex(h) for h in answer["proof"]]
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

    def settle(
        self, track: str, message_ids: Iterable[str], log_index: int, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and send a ``record_receipt`` for ``message_ids`` naming ``log_index``.

        The receipt digest is :func:`receipt_digest` of the same ids and index.
        A duplicate receipt is a no-op (``replayed``).
        """
        ids = list(dict.fromkeys(message_ids))
        body: dict[str, JSONValue] = {
            "message_ids": list[JSONValue](ids),
            "log_index": log_index,
            "receipt_digest": receipt_digest(ids, log_index).hex(),
        }
        return self.execute("record_receipt", body, track=track, idempotency_key=idempotency_key)


def receipt_digest(message_ids: Iterable[str], log_index: int) -> bytes:
    """The ``receipt_digest`` of a receipt for ``message_ids`` naming ``log_index``.

    SHA-256 of the RFC 8785 canonical JSON array of ``[message_id, log_index]``
    pairs, one per distinct message id, sorted by message id::

        sha256(canonicalize([["<id a>", 17], ["<id b>", 17]]))
    """
    pairs: list[JSONValue] = [[message_id, log_index] for message_id in sorted(set(message_ids))]
    return hashlib.sha256(canonicalize(pairs)).digest()


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
