"""The Python SDK's client: one member's signed transport, commands and batches.

:class:`BackchannelClient` speaks the HTTP API of :mod:`backchannel.api`:

- :meth:`~BackchannelClient.execute` signs a command (ADR-0011) and the
  request carrying it (RFC 9421). On a connection error or a 503 it retries
  the *same* signed command, so the same idempotency key (one is generated
  when the caller gives none), with a fresh RFC 9421 nonce per attempt.
- :meth:`~BackchannelClient.execute_many` and :meth:`~BackchannelClient.send_batch`
  send one member's commands as one batch (group commit).
- One sub-client per capability: ``client.log`` (entries, checkpoints, proofs,
  witnesses, receipts: :mod:`backchannel.sdk.log`), ``client.inbox``
  (:mod:`~backchannel.sdk.inbox`), ``client.deals``
  (:mod:`~backchannel.sdk.deals`), ``client.escrow``, ``client.attestations``,
  ``client.obligations``, ``client.texts``, ``client.annexes``, ``client.forecasts``
  and ``client.language``.

Problem responses raise :class:`~backchannel.sdk.session.ProblemError` (status,
``type`` and the whole problem body).

**Retrying after the SDK gave up.** :meth:`~BackchannelClient.execute` (and
``client.inbox.settle``) sign a *new* command on every call. If a call fails
after the SDK's own retries (``httpx.TransportError``), the command may or may
not have been committed. Calling ``execute`` again with the same idempotency key
sends a different digest under that key, and gets 409 ``idempotency-conflict``
if the first one was committed. To retry safely across such failures,
:meth:`~BackchannelClient.sign` once and re-send the same
:class:`~backchannel.protocol.wire.SignedCommand` with
:meth:`~BackchannelClient.send_command` until it is answered: a committed one
comes back as a replay of the first result.

This module does not verify log entries or checkpoints itself (``client.log``
does) and holds no capability's rules.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Self

import httpx

from backchannel.clock import Clock, SystemClock
from backchannel.errors import EncodingError
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.cosignature import WitnessPolicy
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.batch import MAX_BATCH_SIZE
from backchannel.protocol.console_token import DEFAULT_LIFETIME, make_signin_token
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, command_payload, sign_batch, sign_command
from backchannel.sdk.annexes import AnnexesClient
from backchannel.sdk.attestations import AttestationsClient
from backchannel.sdk.coordination import CoordinationClient
from backchannel.sdk.deals import DealsClient
from backchannel.sdk.escrow import EscrowClient
from backchannel.sdk.forecasts import ForecastsClient
from backchannel.sdk.inbox import InboxClient
from backchannel.sdk.language import LanguageClient
from backchannel.sdk.log import LogClient, witness_policy
from backchannel.sdk.obligations import ObligationsClient
from backchannel.sdk.session import ProblemError
from backchannel.sdk.texts import TextsClient

__all__ = ["BackchannelClient"]

_RETRYABLE_STATUS = frozenset({503})


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
        entropy: Where nonces and generated idempotency keys come from: ``n`` ->
            ``n`` random bytes (default :func:`secrets.token_bytes`; the
            simulator passes a seeded source so a run is reproducible).

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
        entropy: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        """Create the client."""
        self.member = member
        self._entropy = entropy
        self.keys = keys
        self._clock: Clock = clock or SystemClock()
        self._http = httpx.Client(base_url=base_url.rstrip("/"), transport=transport)
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._sleep = sleep
        self.log = LogClient(
            self, pinned_log_key=pinned_log_key, witnesses=witness_policy(witnesses or {}, witness_quorum)
        )
        """Entries, checkpoints, proofs, witnesses and receipts (:mod:`backchannel.sdk.log`)."""
        self.inbox = InboxClient(self)
        """Deliveries, presence and receipts (:mod:`backchannel.sdk.inbox`)."""
        self.deals = DealsClient(self)
        """Deals and commitments (:mod:`backchannel.sdk.deals`)."""
        self.escrow = EscrowClient(self)
        """Escrows (:mod:`backchannel.sdk.escrow`)."""
        self.attestations = AttestationsClient(self)
        """Metrics and attestations (:mod:`backchannel.sdk.attestations`)."""
        self.obligations = ObligationsClient(self)
        """Obligations (:mod:`backchannel.sdk.obligations`)."""
        self.texts = TextsClient(self)
        """The negotiating text (:mod:`backchannel.sdk.texts`)."""
        self.coordination = CoordinationClient(self)
        """Dependencies, resources and deadlocks (:mod:`backchannel.sdk.coordination`)."""
        self.annexes = AnnexesClient(self, self.log)
        """Annexes, plain and sealed (:mod:`backchannel.sdk.annexes`)."""
        self.forecasts = ForecastsClient(self)
        """Forecasts on the track (:mod:`backchannel.sdk.forecasts`, ADR-0045)."""
        self.language = LanguageClient(self)
        """The language aid for the mediator (:mod:`backchannel.sdk.language`, ADR-0045)."""

    @property
    def witnesses(self) -> WitnessPolicy:
        """The witness policy checkpoints must meet before they are trusted."""
        return self.log.witnesses

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

    # --- randomness -------------------------------------------------------
    def _nonce(self) -> str:
        """A fresh nonce (144 random bits, base64url as :func:`secrets.token_urlsafe` writes it)."""
        return base64.urlsafe_b64encode(self._entropy(18)).rstrip(b"=").decode("ascii")

    def new_idempotency_key(self) -> str:
        """A fresh idempotency key (``sdk-`` and 128 random bits in hex), from this client's entropy."""
        return "sdk-" + self._entropy(16).hex()

    # --- transport --------------------------------------------------------
    def send(  # noqa: PLR0913 - the request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, int] | None = None,
        body: bytes = b"",
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one RFC 9421-signed request (a fresh nonce, ``created`` now; ``timeout`` in seconds).

        Returns:
            The response, whatever its status.
        """
        headers = {"Content-Type": content_type} if body else {}
        wait = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        request = self._http.build_request(
            method, path, params=params, content=body, headers=headers, timeout=wait
        )
        request.headers.update(
            sign_request(
                method,
                str(request.url),
                {},
                body,
                key=self.keys.signing,
                created=self._clock.now(),
                nonce=self._nonce(),
            )
        )
        return self._http.send(request)

    @staticmethod
    def read_json(response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a success.

        Raises:
            ProblemError: the response is not a success.
            EncodingError: a success that is not a JSON object.
        """
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

    def get_json(self, path: str, **params: int) -> dict[str, Any]:
        """A signed ``GET`` answered with a JSON object (see :meth:`read_json`)."""
        return self.read_json(self.send("GET", path, params=params))

    def post_json(self, path: str, body: Mapping[str, JSONValue]) -> tuple[int, dict[str, Any]]:
        """A signed ``POST`` of canonical JSON: the status and the answer (see :meth:`read_json`)."""
        response = self.send("POST", path, body=canonicalize(dict(body)))
        return response.status_code, self.read_json(response)

    def signed_request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, timeout: float = 5.0
    ) -> httpx.Request:
        """A signed request without a body, not yet sent (for long polls and streams)."""
        request = self._http.build_request(method, path, params=params, timeout=timeout)
        request.headers.update(
            sign_request(
                method,
                str(request.url),
                {},
                b"",
                key=self.keys.signing,
                created=self._clock.now(),
                nonce=self._nonce(),
            )
        )
        return request

    def send_request(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send a request built by :meth:`signed_request` (``stream``: do not read the body yet)."""
        return self._http.send(request, stream=stream)

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
            nonce=self._nonce(),
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
        signed = self.sign(
            command, body, track=track, idempotency_key=idempotency_key or self.new_idempotency_key()
        )
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
        signed = [
            self.sign(name, body, track=track, idempotency_key=self.new_idempotency_key())
            for name, body in commands
        ]
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

    def sign_batch(
        self, commands: Iterable[tuple[str, Mapping[str, JSONValue]]], *, track: str
    ) -> list[SignedCommand]:
        """Sign ``(command, body)`` pairs with ONE signature over their Merkle root (ADR-0051).

        Each command gets a fresh nonce and idempotency key and carries its batch
        proof instead of a signature of its own; each verifies alone.
        """
        now = self._clock.now()
        payloads = [
            command_payload(
                self.keys.signing.key_id,
                track=track,
                command=name,
                member=self.member,
                body=body,
                issued_at=now,
                nonce=self._nonce(),
                idempotency_key=self.new_idempotency_key(),
            )
            for name, body in commands
        ]
        return sign_batch(self.keys.signing, payloads)

    def submit_batch(
        self, commands: Iterable[tuple[str, Mapping[str, JSONValue]]], *, track: str
    ) -> list[dict[str, Any]]:
        """Sign ``(command, body)`` pairs with ONE signature per 1,024 and submit them, in order.

        Each run of up to 1,024 commands is one batch: one signature, one request
        (see :meth:`sign_batch` and :meth:`send_signed_batch`).

        Returns:
            One item per command, in order, as :meth:`send_batch` returns them.
        """
        items = list(commands)
        results: list[dict[str, Any]] = []
        for start in range(0, len(items), MAX_BATCH_SIZE):
            batch = self.sign_batch(items[start : start + MAX_BATCH_SIZE], track=track)
            results += self.send_signed_batch(batch)
        return results

    def send_signed_batch(self, commands: Sequence[SignedCommand]) -> list[dict[str, Any]]:
        """Send a whole batch from :meth:`sign_batch` to ``.../commands/batch-signed`` (ADR-0051).

        Resend the same batch to retry it: its idempotency keys make it safe. The
        service checks the one signature, then decides and appends each command as
        its own entry, carrying its proof.

        Returns:
            One item per command, in order, as :meth:`send_batch` returns them.

        Raises:
            ValueError: no commands.
            ProblemError: the service refused the whole batch (naming the field and rule).
            httpx.TransportError: the service could not be reached on any attempt.
        """
        if not commands:
            raise ValueError("a batch holds at least one command")
        path = f"/v1/tracks/{commands[0].track}/commands/batch-signed"
        body: dict[str, JSONValue] = {"commands": [c.to_dict() for c in commands]}
        results = self._post_retrying(path, canonicalize(body))["results"]
        if not isinstance(results, list) or len(results) != len(commands):
            raise EncodingError("the batch response does not hold one result per command")
        return results

    def _post_retrying(self, path: str, content: bytes) -> dict[str, Any]:
        delay = self._backoff
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = self.send("POST", path, body=content)
            except httpx.TransportError:
                if last:
                    raise
                self._sleep(delay)
            else:
                if response.status_code not in _RETRYABLE_STATUS or last:
                    return self.read_json(response)
                retry_after = response.headers.get("retry-after", "")
                self._sleep(min(5.0, float(retry_after) if retry_after.isdigit() else delay))
            delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    # --- reads ------------------------------------------------------------
    def tracks(self) -> list[dict[str, Any]]:
        """``GET /v1/tracks``: the tracks this member's key is an active key of.

        Each with ``track``, ``title``, ``size``, ``member``, ``party``,
        ``party_kind`` and ``role``.

        Raises:
            ProblemError: 401 when no track of the service knows the key.
        """
        return list(self.get_json("/v1/tracks")["tracks"])

    def service_info(self) -> dict[str, Any]:
        """``GET /v1/service``: the node's keys and the log key (unauthenticated)."""
        return self.read_json(self._http.get("/v1/service"))

    def console_link(self, track: str, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
        """A one-time sign-in link to the service's console, valid for ``lifetime`` (ADR-0047).

        The link carries a token signed here by this member's key for ``track``
        (:func:`~backchannel.protocol.console_token.make_signin_token`); the key
        itself never leaves this process. Nothing is sent: the service checks
        the token when the link is opened (once, before it expires).
        """
        origin = str(self._http.base_url).rstrip("/")
        token = make_signin_token(
            origin=origin, track=track, member=self.member, key=self.keys.signing,
            now=self._clock.now(), lifetime=lifetime,
        )  # fmt: skip
        return f"{origin}/console/signin?token={token}"
