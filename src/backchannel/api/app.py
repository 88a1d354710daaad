"""The HTTP API of the track service (ADR-0011, ADR-0012).

:func:`create_app` wraps a :class:`~backchannel.service.tracks.TrackService`:

- ``POST /v1/tracks/{track}/commands``: run one signed command;
- ``GET /v1/tracks/{track}/events``: the log entries the requester may see,
  with their salts (:func:`~backchannel.domain.visibility.visible_to`);
- ``GET /v1/tracks/{track}/leaves``: leaf hashes only (the witness view);
- ``GET /v1/tracks/{track}/checkpoint`` and ``.../proofs/inclusion``,
  ``.../proofs/consistency``: the transparency-log views; the checkpoint note
  carries every stored witness cosignature, and ``?cosigned=k`` asks for the
  newest checkpoint with at least *k* of them (``&timeout=s`` waits for one);
- ``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures``: a witness
  party's member submits its C2SP cosignature of a checkpoint
  (:mod:`backchannel.service.witnesses`, ADR-0019);
- ``GET /v1/service`` (unauthenticated): the service node's key and log key;
- ``GET /v1/tracks/{track}/escrows/{escrow_id}``: an escrow and how far its
  release condition is (ADR-0017); 404 unless the requester's party may see it.
  The lifespan ticker also refunds expired escrows
  (:class:`~backchannel.service.escrow.EscrowService`);
- ``GET /v1/tracks/{track}/obligations/{id}``: an obligation's terms, level,
  tokens and ladder history (ADR-0018; the mediator, the bound party,
  inspectors and the parties it is shared with; anyone else gets the 404 of
  an unknown id). The lifespan ticker also signs the reviews that take due
  steps down (:mod:`backchannel.service.obligations`);
- ``POST /v1/tracks/{track}/inbox/lease?max=N``: lease the requester's party's
  deliveries; ``GET .../inbox/stream`` (Server-Sent Events) and
  ``GET .../inbox/poll`` (long poll) lease them as they become deliverable;
- ``POST /v1/tracks/{track}/heartbeat`` and ``GET .../presence`` (mediator only);
- ``PUT /v1/tracks/{track}/annexes/{digest}`` (the raw bytes, usually a sealed
  annex, whose SHA-256 is ``digest``) and ``GET`` of the same path: annex blobs
  (:mod:`backchannel.service.annexes`, ADR-0014). An upload is at most the
  service's annex limit (413 naming it) and must hash to the path's digest
  (422 on field ``digest``); 201 the first time the requester's party uploads
  those bytes, 200 after. A blob is readable by its uploaders' parties, the
  mediator and the parties a message naming it was delivered to; anyone else
  gets the same 404 as for an unknown digest.
- ``GET /v1/tracks/{track}/messages/{message_id}/receipts``: proof of receipt of
  a message for each recipient party (see below).

**Proof of receipt.** For each party a message was delivered to, the answer
gives the delivering entry and, once settled, the ``receipt.recorded`` entry
that settled it (with its salt: the recipient's signed ``record_receipt`` is
embedded verbatim in its body), the signer's Ed25519 key as the track enrolled
it, and the receipt's item for the message. Parties that have not settled are
``pending`` or ``dead_lettered``, without a receipt. Only the message's author
party and the mediator may ask; anyone else gets the same 404 as for a message
that does not exist. Every entry returned is one the reader may already see on
``GET .../events``.
- ``GET /v1/tracks/{track}/texts``, ``.../texts/{doc}`` (``?version=N``),
  ``.../texts/{doc}/diff?from=A&to=B`` and ``.../texts/{doc}/comments``: the
  negotiating text (:mod:`backchannel.service.texts`, ADR-0020), for the
  mediator and the delegations; comments for the mediator and their party only.

**Delivery.** Commands go through :meth:`DeliveryService.submit
<backchannel.service.delivery.DeliveryService.submit>` (a full queue is 429 with
``Retry-After``). A delivery carries the log entry that queued it (signed event,
salt, leaf hash) and, for a verbatim forward, the author's signed command, whose
SHA-256 is the message id. Settlement is a ``record_receipt`` command. The
stream's event ids are log indexes: on reconnect with ``Last-Event-ID: n``, the
deliveries leased to the party earlier, still unsettled and unexpired, with a
log index above ``n`` are sent again first (the client may have missed them).
A background task started by the app's lifespan runs the periodic work
(:class:`~backchannel.service.schedule.PeriodicWork`) of the tracks that have
work due (checking at least every second), so redeliveries, dead letters,
escalations, deal deadlines, escrow expiries and ladder reviews happen without
any client; it backs off on failure and logs a failure once.

**Authentication.** Every ``/v1/tracks`` request carries an RFC 9421
signature (:mod:`backchannel.httpsig`), verified against the configured
``public_origin`` plus the raw path and query (never the ``Host`` header), with
``created`` within ±300 s and a nonce accepted once, within a budget per key
and per track (:class:`~backchannel.service.replay.ReplayWindow`: 429 past it). The ``keyid`` names a key
of the track: for a command it must be the command's own ``key_id`` (the
genesis ``open_track`` is checked against the principal key it enrols); for a
read it names the reader. The transport signature is checked first (401 on any
failure), then whether the key may still sign (403 once revoked or expired).

The requested track must exist (404) before anything else is checked, so a
track's name is not secret; a track set aside by the start-up integrity check
answers 503. A member holds at most ``streams_per_member`` open inbox streams
(429 past it). Errors are RFC 9457 problem+json
(:mod:`backchannel.api.errors`); request bodies are limited to 1 MiB (413),
annex uploads to the annex limit.

This module does not share wake-ups between processes: a stream or long poll
learns of a change made through another node within a second, by re-checking.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from backchannel.api.deals import add_deal_routes
from backchannel.api.errors import (
    PROBLEM_BASE,
    PROBLEM_MEDIA_TYPE,
    AuthenticationError,
    PayloadTooLargeError,
    problem_for,
    problem_response,
)
from backchannel.api.escrow_schemas import EscrowResponse, escrow_response
from backchannel.api.schemas import (
    AnnexResponse,
    BatchItemModel,
    BatchRequestModel,
    BatchResponse,
    CheckpointResponse,
    CommandResponse,
    ConsistencyProofResponse,
    CosignatureRequestModel,
    CosignatureResponse,
    DeliveriesResponse,
    DeliveryModel,
    EventsResponse,
    HeartbeatResponse,
    InclusionProofResponse,
    LeavesResponse,
    LogEntryModel,
    ObligationResponse,
    PartyPresenceModel,
    PresenceResponse,
    ProblemModel,
    ReceiptItemModel,
    ReceiptProofModel,
    ReceiptProofsResponse,
    ServiceInfo,
    ServiceKey,
    SignedCommandModel,
    SignerKeyModel,
    TextCommentModel,
    TextCommentsResponse,
    TextDiffResponse,
    TextResponse,
    TextsResponse,
    TextSummaryModel,
)
from backchannel.broker import Delivery, DeliveryPolicy
from backchannel.clock import Clock, SystemClock
from backchannel.domain import ReceiptRecorded, TrackState, event_from_dict
from backchannel.domain.errors import NotAuthorizedError
from backchannel.domain.ids import PartyKind
from backchannel.domain.records import Delivery as DomainDelivery
from backchannel.domain.records import MessageRecord
from backchannel.domain.visibility import visible_to
from backchannel.errors import BackchannelError, EncodingError, NotFoundError, VerificationError
from backchannel.httpsig import DEFAULT_MAX_SKEW, content_digest, verify_request
from backchannel.log.canonical import loads_strict
from backchannel.log.records import LogEntry, format_timestamp
from backchannel.log.signing import VerifyingKey, b64encode
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.annexes import AnnexService
from backchannel.service.committer import GroupCommitter, Outcome
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.escrow import EscrowService
from backchannel.service.limits import DEFAULT_STREAMS_PER_MEMBER, StreamSlots
from backchannel.service.obligations import ObligationService, obligation_view
from backchannel.service.replay import ReplayWindow
from backchannel.service.schedule import PeriodicWork
from backchannel.service.texts import TextService
from backchannel.service.tracks import CommandResult, TrackService
from backchannel.service.witnesses import CosignatureService
from backchannel.wire import SignedCommand, new_key_from_dict

__all__ = ["KEEPALIVE_SECONDS", "MAX_BATCH_BODY_BYTES", "MAX_BATCH_COMMANDS", "MAX_BODY_BYTES", "create_app"]

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
"""The largest request body (one command, or a read)."""
MAX_BATCH_BODY_BYTES = 8 << 20
"""The largest batch request body."""
MAX_BATCH_COMMANDS = 1024
"""The most commands in one batch request."""
"""The largest request body accepted (1 MiB)."""
MAX_PAGE = 1000
"""The most entries or leaves one read returns."""
KEEPALIVE_SECONDS = 15.0
"""A stream sends a comment line this often when it has nothing else to send."""
_RECHECK_SECONDS = 1.0
"""A stream or long poll re-checks its queue at least this often (redeliveries after backoff)."""
_MAX_LEASE = 1000
_MAX_TICK_BACKOFF = 300.0
_PROBLEM_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "429", "503")
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    int(status): {"model": ProblemModel} for status in _PROBLEM_STATUSES
}

T = TypeVar("T")
_BATCH_SCHEMA_REF = "#/components/schemas/BatchRequestModel"
_Index = Annotated[int, Query(ge=0)]
_Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
_End = Annotated[int | None, Query(ge=0)]
_Max = Annotated[int | None, Query(alias="max", ge=1, le=_MAX_LEASE)]
_PollTimeout = Annotated[float, Query(alias="timeout", ge=0, le=60)]
_StreamTimeout = Annotated[float, Query(alias="timeout", ge=0, le=3600)]
_Digest = Annotated[
    str, PathParam(pattern="^[0-9a-f]{64}$", description="SHA-256 of the blob, 64 lowercase hex digits")
]
_EscrowId = Annotated[str, PathParam(pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="The escrow's id")]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_Cosigned = Annotated[int, Query(ge=0, le=64, description="at least this many witness cosignatures")]
_CosignedTimeout = Annotated[float, Query(alias="timeout", ge=0, le=60)]
_Size = Annotated[int, PathParam(ge=1, description="the tree size of the cosigned checkpoint")]
_Version = Annotated[int | None, Query(ge=1, description="a version (default: the current one)")]
_FromVersion = Annotated[int, Query(alias="from", ge=1, description="the version to diff from")]
_ToVersion = Annotated[int, Query(alias="to", ge=1, description="the version to diff to")]


@dataclass(frozen=True, slots=True)
class _Reader:
    """An authenticated requester."""

    member: str
    key_id: str


class _Changes:
    """Wakes waiting streams and long polls (on any event loop) when queues may have changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def notify(self) -> None:
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    async def wait(self, since: int, seconds: float) -> None:
        """Return after a change later than generation ``since``, or after ``seconds``."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._generation != since:
                return
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), max(0.0, seconds))
        finally:
            with self._lock:
                self._waiters.discard(waiter)


class _Api:
    """The handlers' shared state: the services, clock, origin, replay window and stream slots."""

    def __init__(  # noqa: PLR0913, PLR0917 - the services, the origin, the clock and the limits
        self,
        service: TrackService,
        delivery: DeliveryService,
        annexes: AnnexService,
        public_origin: str,
        clock: Clock,
        limits: tuple[ReplayWindow, StreamSlots],
    ) -> None:
        self.service = service
        self.delivery = delivery
        self.committer = GroupCommitter(delivery.submit_many)
        self.annexes = annexes
        self.deals = DealService(service, service.node, clock=clock)  # prepare deadlines (issue #4)
        self.escrows = EscrowService(service, service.node, clock=clock)
        self.witnesses = CosignatureService(service)
        self.texts = TextService(service)
        self.obligations = ObligationService(service, service.node, clock=clock)
        self.origin = public_origin.rstrip("/")
        self.clock = clock
        self.replay, self.streams = limits  # per-key replay budgets, per-member streams (issue #8)
        self.periodic = PeriodicWork(
            service, deals=self.deals, delivery=delivery, escrows=self.escrows, obligations=self.obligations
        )
        self.changes = _Changes()
        self.keepalive = KEEPALIVE_SECONDS
        self._leased: dict[tuple[str, str], dict[str, Delivery]] = {}
        self._leased_lock = threading.Lock()

    # --- authentication ---------------------------------------------------
    def target_uri(self, request: Request) -> str:
        raw_path = request.scope.get("raw_path") or request.url.path.encode("ascii")
        query = request.scope.get("query_string", b"")
        uri = self.origin + raw_path.decode("latin-1")
        return uri + "?" + query.decode("latin-1") if query else uri

    def verify(
        self, request: Request, track: str, body: bytes, resolve: Callable[[str], VerifyingKey], now: datetime
    ) -> str:
        """Verify the RFC 9421 signature; return the key id (AuthenticationError on failure)."""
        try:
            verified = verify_request(
                request.method,
                self.target_uri(request),
                request.headers,
                body,
                resolve_key=resolve,
                now=now,
                nonces=self.replay.for_track(track),
            )
        except VerificationError as e:
            raise AuthenticationError(str(e)) from e
        return verified.key_id

    def state(self, track: str) -> TrackState:
        state = self.service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state

    def authenticate_reader(self, request: Request, track: str, body: bytes) -> tuple[TrackState, _Reader]:
        state = self.state(track)
        now = self.clock.now()

        def resolve(key_id: str) -> VerifyingKey:
            owner = state.key_owners.get(key_id)
            record = None if owner is None else state.members[owner].key(key_id)
            if record is None:
                raise LookupError(f"no key {key_id} is enrolled in track {track}")
            return VerifyingKey(record.ed25519)

        key_id = self.verify(request, track, body, resolve, now)
        member = state.key_owners[key_id]
        state.signing_key(member, key_id, now)  # 403 once revoked or expired
        self.periodic.touch(track)  # a lease or heartbeat may move the track's next due time
        return state, _Reader(member, key_id)

    def authenticate_command(self, request: Request, signed: SignedCommand, body: bytes) -> None:
        state = self.service.state(signed.track)
        now = self.clock.now()
        if state is None:
            if signed.command != "open_track":
                raise NotFoundError(f"no track {signed.track!r}")
            principal = new_key_from_dict(_body_field(signed, "principal_key"), "body.principal_key")
            genesis = VerifyingKey(principal.ed25519)

            def resolve(key_id: str) -> VerifyingKey:
                if key_id != signed.key_id or key_id != principal.key_id:
                    raise LookupError(f"keyid {key_id} is not the principal key the command enrols")
                return genesis

            self.verify(request, signed.track, body, resolve, now)
            return

        def resolve_enrolled(key_id: str) -> VerifyingKey:
            if key_id != signed.key_id:
                raise LookupError(f"keyid {key_id} is not the command's key {signed.key_id}")
            record = state.member(signed.member).key(key_id) if signed.member in state.members else None
            if record is None or state.key_owners.get(key_id) != signed.member:
                # one message whether the member is unknown or holds another key: no membership oracle
                raise LookupError(f"key {key_id} is not a key of {signed.member} in this track")
            return VerifyingKey(record.ed25519)

        self.verify(request, signed.track, body, resolve_enrolled, now)
        state.signing_key(signed.member, signed.key_id, now)  # 403 once revoked or expired

    # --- handlers (run in a worker thread) ----------------------------------
    def parse_command(self, request: Request, track: str, body: bytes) -> SignedCommand:
        """Decode and authenticate one signed command (the RFC 9421 signer must be its member)."""
        try:
            signed = SignedCommand.from_dict(loads_strict(body))
        except EncodingError as e:
            raise EncodingError(f"request body is not a signed command: {e}") from e
        if signed.track != track:
            raise EncodingError(f"the command is for track {signed.track!r}, not {track!r}")
        header = request.headers.get("idempotency-key")
        if header is not None and header != signed.idempotency_key:
            raise EncodingError(
                f"Idempotency-Key header {header[:130]!r} differs from the command's idempotency_key"
            )
        self.authenticate_command(request, signed, body)
        return signed

    def parse_batch(self, request: Request, track: str, body: bytes) -> list[SignedCommand]:
        """Decode and authenticate a batch: every command is the RFC 9421 signer's, for this track."""
        data = loads_strict(body)
        if not isinstance(data, dict) or set(data) != {"commands"}:
            raise EncodingError("a batch is a JSON object with exactly one field, 'commands'")
        items = data["commands"]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_COMMANDS:
            raise EncodingError(f"commands: expected a list of 1 to {MAX_BATCH_COMMANDS} signed commands")
        commands: list[SignedCommand] = []
        for position, item in enumerate(items):
            try:
                signed = SignedCommand.from_dict(item)
            except EncodingError as e:
                raise EncodingError(f"commands.{position}: not a signed command: {e}") from e
            if signed.track != track:
                raise EncodingError(
                    f"commands.{position}: the command is for track {signed.track!r}, not {track!r}"
                )
            if commands and signed.member != commands[0].member:
                raise EncodingError(
                    f"commands.{position}: signed by {signed.member}, but a batch holds one member's "
                    f"commands ({commands[0].member})"
                )
            if signed.command == "open_track":
                raise EncodingError(f"commands.{position}: open_track cannot be batched")
            commands.append(signed)
        self.authenticate_command(request, commands[0], body)
        return commands

    def command_response(self, outcome: Outcome) -> tuple[int, CommandResponse]:
        """The status and body of one command's result (raises its error)."""
        if isinstance(outcome, BackchannelError):
            raise outcome
        response = CommandResponse(
            events=[dict(event.to_dict()) for event in outcome.events],
            first_index=outcome.first_index,
            checkpoint=None if outcome.checkpoint is None else outcome.checkpoint.to_text(),
            replayed=outcome.replayed,
        )
        return (200 if outcome.replayed else 201), response

    def batch_item(self, outcome: Outcome, instance: str) -> BatchItemModel:
        if isinstance(outcome, BackchannelError):
            problem = problem_for(outcome, instance=instance)
            return BatchItemModel(status=problem.status, problem=problem.body)
        status, response = self.command_response(outcome)
        return BatchItemModel(status=status, result=response)

    async def run(self, commands: list[SignedCommand]) -> list[Outcome]:
        """Run commands through the group committer (shared appends) and wake the waiting streams."""
        outcomes = await asyncio.wrap_future(self.committer.submit(commands))
        for track in {c.track for c in commands}:
            self.periodic.touch(track)  # its next due time may have moved
        if any(isinstance(o, CommandResult) and not o.replayed for o in outcomes):
            self.changes.notify()
        return outcomes

    def events(self, request: Request, track: str, after: int, limit: int) -> EventsResponse:
        state, reader = self.authenticate_reader(request, track, b"")
        store = self.service.store
        size = store.size(track)
        entries: list[LogEntryModel] = []
        cursor = min(after, size)
        for stored in store.read(track, cursor, size):
            cursor = stored.seq + 1
            entry = stored.decode()
            if _visible(state, reader.member, entry):
                entries.append(
                    LogEntryModel(
                        index=stored.seq,
                        signed=dict(entry.signed.to_dict()),
                        salt=b64encode(stored.salt),
                        leaf_hash=stored.leaf_hash.hex(),
                    )
                )
                if len(entries) >= limit:
                    break
        return EventsResponse(entries=entries, next=cursor, size=size)

    def leaves(self, request: Request, track: str, start: int, end: int | None) -> LeavesResponse:
        self.authenticate_reader(request, track, b"")
        size = self.service.store.size(track)
        stop = min(size, start + MAX_PAGE, size if end is None else end)
        if start > stop:
            raise NotFoundError(f"no leaves from {start} (the log holds {size})")
        hashes = [s.leaf_hash.hex() for s in self.service.store.read(track, start, stop)]
        return LeavesResponse(start=start, leaf_hashes=hashes)

    def checkpoint(self, track: str, cosigned: int = 0) -> CheckpointResponse:
        """The latest checkpoint (or the newest with ``cosigned`` cosignatures), cosigned; unauthenticated."""
        note = self.witnesses.checkpoint(track, cosigned)
        return CheckpointResponse(
            checkpoint=note.to_text(),
            size=note.checkpoint.size,
            log_key=self.service.store.get_track(track).log_key,
        )

    def add_cosignature(
        self, request: Request, track: str, size: int, body: bytes
    ) -> tuple[int, CosignatureResponse]:
        _, reader = self.authenticate_reader(request, track, body)
        data = loads_strict(body)
        if (
            not isinstance(data, dict)
            or set(data) != {"cosignature"}
            or not isinstance(data["cosignature"], str)
        ):
            raise EncodingError(
                "a cosignature request is a JSON object with exactly one string field, 'cosignature'"
            )
        upload = self.witnesses.add(
            track, reader.member, reader.key_id, size, data["cosignature"], now=self.clock.now()
        )
        response = CosignatureResponse(
            track=track,
            size=size,
            cosigner=upload.cosignature.name,
            timestamp=upload.cosignature.timestamp,
            checkpoint=upload.note.to_text(),
        )
        return (201 if upload.created else 200), response

    def inclusion(self, request: Request, track: str, index: int, size: int) -> InclusionProofResponse:
        self.authenticate_reader(request, track, b"")
        current = self.service.store.size(track)
        if not index < size <= current:
            raise NotFoundError(f"no inclusion proof of {index} in size {size} (the log holds {current})")
        proof = self.service.store.inclusion_proof(track, index, size)
        return InclusionProofResponse(index=index, size=size, proof=[h.hex() for h in proof])

    def consistency(self, request: Request, track: str, old: int, new: int) -> ConsistencyProofResponse:
        self.authenticate_reader(request, track, b"")
        current = self.service.store.size(track)
        if not old <= new <= current:
            raise NotFoundError(f"no consistency proof from {old} to {new} (the log holds {current})")
        proof = self.service.store.consistency_proof(track, old, new)
        return ConsistencyProofResponse(old=old, new=new, proof=[h.hex() for h in proof])

    # --- the negotiating text (run in a worker thread) ------------------------
    def list_texts(self, request: Request, track: str) -> TextsResponse:
        _, reader = self.authenticate_reader(request, track, b"")
        policy, documents = self.texts.documents(track, reader.member)
        return TextsResponse(
            policy=policy.value,
            documents=[
                TextSummaryModel(
                    doc=d.doc,
                    title=d.title,
                    version=d.current.version,
                    text_digest=d.current.digest.hex(),
                    by=d.current.by,
                    at=format_timestamp(d.current.at),
                )
                for d in documents
            ],
        )

    def get_text(self, request: Request, track: str, doc: str, version: int | None) -> TextResponse:
        _, reader = self.authenticate_reader(request, track, b"")
        view = self.texts.document(track, reader.member, doc, version)
        found = view.version
        return TextResponse(
            doc=view.document.doc,
            title=view.document.title,
            version=found.version,
            current_version=view.document.current.version,
            base_version=found.base_version,
            text=found.text,
            text_digest=found.digest.hex(),
            by=found.by,
            at=format_timestamp(found.at),
            policy=view.policy.value,
        )

    def text_diff(self, request: Request, track: str, doc: str, old: int, new: int) -> TextDiffResponse:
        _, reader = self.authenticate_reader(request, track, b"")
        diff = self.texts.diff(track, reader.member, doc, old, new)
        return TextDiffResponse(doc=doc, from_version=old, to_version=new, diff=diff)

    def text_comments(self, request: Request, track: str, doc: str) -> TextCommentsResponse:
        _, reader = self.authenticate_reader(request, track, b"")
        comments = self.texts.comments(track, reader.member, doc)
        return TextCommentsResponse(
            doc=doc,
            comments=[
                TextCommentModel(
                    version=c.version, text=c.text, by=c.by, party=c.party, at=format_timestamp(c.at)
                )
                for c in comments
            ],
        )

    # --- annexes (run in a worker thread) ------------------------------------
    def put_annex(self, request: Request, track: str, digest: str, body: bytes) -> tuple[int, AnnexResponse]:
        _, reader = self.authenticate_reader(request, track, body)
        upload = self.annexes.upload(track, reader.member, bytes.fromhex(digest), body)
        return (201 if upload.created else 200), AnnexResponse(track=track, digest=digest, size=upload.size)

    def get_annex(self, request: Request, track: str, digest: str) -> bytes:
        _, reader = self.authenticate_reader(request, track, b"")
        return self.annexes.fetch(track, reader.member, bytes.fromhex(digest))

    def receipts(self, request: Request, track: str, message_id: str) -> ReceiptProofsResponse:
        state, reader = self.authenticate_reader(request, track, b"")
        party = state.member(reader.member).party
        message = state.messages.get(message_id)
        if message is None or party not in {message.party, state.mediator}:
            # one answer whether the message is missing or another party's: no existence oracle
            # (and without echoing the id: the detail is the same for every id)
            raise NotFoundError(f"no such message whose receipts you may read on track {track!r}")
        deliveries = sorted(message.deliveries.values(), key=lambda d: (d.log_index, d.party))
        proofs = [self.receipt_proof(state, message, d) for d in deliveries]
        for proof in proofs:  # defence in depth: nothing the reader could not read on /events
            for model in (proof.delivery, proof.entry):
                if model is not None:
                    entry = LogEntry.from_dict({"signed": model.signed, "salt": model.salt})
                    assert _visible(state, reader.member, entry), f"entry {model.index} is not visible"
        return ReceiptProofsResponse(
            track=track, message_id=message.message_id, party=message.party, receipts=proofs
        )

    def receipt_proof(
        self, state: TrackState, message: MessageRecord, delivery: DomainDelivery
    ) -> ReceiptProofModel:
        delivered, _ = self.entry(state.track, delivery.log_index)
        settled = delivery.settled
        if settled is None:
            status = "pending" if delivery.dead_letter is None else "dead_lettered"
            return ReceiptProofModel(
                party=delivery.party, status=status, delivery_index=delivery.log_index, delivery=delivered,
                log_index=None, entry=None, signer=None, item=None,
            )  # fmt: skip
        model, entry = self.entry(state.track, settled.log_index)
        body = entry.signed.event.body
        assert isinstance(body, dict)  # a track event's body: {"command", "event"}
        signed = SignedCommand.from_dict(body["command"])
        event = event_from_dict(body["event"])
        assert isinstance(event, ReceiptRecorded)
        (item,) = [i for i in event.items if i.message_id == message.message_id]
        key = state.member(settled.by).key(signed.key_id)
        assert key is not None  # the service verified the receipt with this key
        return ReceiptProofModel(
            party=delivery.party,
            status="settled",
            delivery_index=delivery.log_index,
            delivery=delivered,
            log_index=settled.log_index,
            entry=model,
            signer=SignerKeyModel(member=settled.by, key_id=key.key_id, ed25519=b64encode(key.ed25519)),
            item=ReceiptItemModel(message_id=item.message_id, log_index=item.log_index),
        )

    # --- delivery (run in a worker thread) -----------------------------------
    def lease(self, track: str, member: str, max_n: int | None) -> list[DeliveryModel]:
        """Lease deliveries for ``member``'s party and render them."""
        deliveries = self.delivery.lease(track, member, max_n=max_n)
        if not deliveries:
            return []
        state = self.state(track)
        party = state.member(member).party
        now = self.clock.now()
        with self._leased_lock:
            held = self._leased.setdefault((track, party), {})
            _drop_settled_or_expired(held, state, now)
            for delivery in deliveries:
                held[delivery.envelope.message_id] = delivery
        return [self.render(state, d) for d in deliveries]

    def resend(self, track: str, member: str, after: int) -> list[DeliveryModel]:
        """Deliveries leased earlier to ``member``'s party, unsettled and unexpired, above ``after``."""
        state = self.state(track)
        party = state.member(member).party
        now = self.clock.now()
        with self._leased_lock:
            held = self._leased.get((track, party), {})
            _drop_settled_or_expired(held, state, now)
            again = sorted(
                (d for d in held.values() if d.envelope.log_index > after), key=lambda d: d.envelope.log_index
            )
        return [self.render(state, d) for d in again]

    def render(self, state: TrackState, delivery: Delivery) -> DeliveryModel:
        envelope = delivery.envelope
        entry_model, entry = self.entry(state.track, envelope.log_index)
        original = None
        event = entry.signed.event
        if event.type == "message.forwarded":
            message = state.message(envelope.message_id)
            _, submitted = self.entry(state.track, state.log_index(message.sequence))
            body = submitted.signed.event.body
            command = body.get("command") if isinstance(body, dict) else None
            original = dict(command) if isinstance(command, dict) else None
        return DeliveryModel(
            message_id=envelope.message_id,
            log_index=envelope.log_index,
            priority=envelope.priority.value,
            attempt=delivery.attempt,
            sender=envelope.sender,
            visible_until=format_timestamp(delivery.visible_at),
            entry=entry_model,
            original=original,
        )

    def entry(self, track: str, index: int) -> tuple[LogEntryModel, LogEntry]:
        entry = self.service.entry(track, index)
        model = LogEntryModel(
            index=entry.seq,
            signed=dict(entry.signed.to_dict()),
            salt=b64encode(entry.salt),
            leaf_hash=entry.leaf_hash.hex(),
        )
        return model, entry

    def heartbeat(self, request: Request, track: str, body: bytes) -> HeartbeatResponse:
        state, reader = self.authenticate_reader(request, track, body)
        now = self.clock.now()
        self.delivery.heartbeat(track, reader.member, now)
        return HeartbeatResponse(
            member=reader.member, party=state.member(reader.member).party, at=format_timestamp(now)
        )

    def presence(self, request: Request, track: str) -> PresenceResponse:
        state, reader = self.authenticate_reader(request, track, b"")
        party = state.member(reader.member).party
        if state.parties[party].kind is not PartyKind.MEDIATOR:
            raise NotAuthorizedError(f"{reader.member}: only the mediator sees presence")
        return PresenceResponse(
            parties=[
                PartyPresenceModel(
                    party=p.party,
                    status=p.status.value,
                    last_heartbeat=None if p.last_heartbeat is None else format_timestamp(p.last_heartbeat),
                    silent_since=None if p.silent_since is None else format_timestamp(p.silent_since),
                    members_online=list(p.members_online),
                )
                for p in self.delivery.presence(track)
            ]
        )

    def tick_due(self) -> float | None:
        """Run the periodic work of the tracks that are due (:class:`PeriodicWork`); seconds to the next."""
        result = self.periodic.tick(self.clock.now())
        if result.changed:
            self.changes.notify()
        return result.wait

    def obligation(self, request: Request, track: str, obligation: str) -> ObligationResponse:
        state, reader = self.authenticate_reader(request, track, b"")
        return ObligationResponse.model_validate(
            obligation_view(state, reader.member, obligation, self.clock.now())
        )

    def escrow(self, request: Request, track: str, escrow_id: str) -> EscrowResponse:
        """An escrow and its check now (404 unless the requester's party may see it)."""
        _, reader = self.authenticate_reader(request, track, b"")
        return escrow_response(self.escrows.status(track, escrow_id, reader.member))

    def service_info(self) -> ServiceInfo:
        node = self.service.node_key
        return ServiceInfo(
            service_key=ServiceKey(
                key_id=node.key_id,
                ed25519=b64encode(node.public_bytes),
                x25519=b64encode(self.service.node_agreement_key),
            ),
            log_key=self.service.log_key,
        )


def _body_field(signed: SignedCommand, name: str) -> Any:  # noqa: ANN401 - raw JSON, checked by the decoder
    body = signed.payload["body"]
    assert isinstance(body, dict)  # SignedCommand checked it is an object
    return body.get(name)


def _visible(state: TrackState, member: str, entry: LogEntry) -> bool:
    event = entry.signed.event
    if event.type == KEY_REGISTERED:  # the service's own key: public to every party but witnesses
        record = state.members.get(member)
        return record is not None and state.parties[record.party].kind is not PartyKind.WITNESS
    body = event.body
    return isinstance(body, dict) and visible_to(state, member, event_from_dict(body["event"]))


def _drop_settled_or_expired(held: dict[str, Delivery], state: TrackState, now: datetime) -> None:
    """Forget leased deliveries that were settled or expired; what stays is within the credit.

    An expired lease is redelivered by the tick and handed out again by the next lease.
    """
    for message_id in [m for m, d in held.items() if not _pending(state, d) or d.visible_at <= now]:
        del held[message_id]


def _pending(state: TrackState, delivery: Delivery) -> bool:
    envelope = delivery.envelope
    message = state.messages.get(envelope.message_id)
    if message is None:
        return False
    if envelope.recipient == state.mediator:  # a submission, until the mediator forwards it
        return not message.deliveries
    record = message.deliveries.get(envelope.recipient)
    return record is not None and record.pending


def _sse(delivery: DeliveryModel) -> bytes:
    data = json.dumps(delivery.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)
    return f"id: {delivery.log_index}\nevent: delivery\ndata: {data}\n\n".encode()


def _last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return -1
    if not value.strip().isdigit():
        raise EncodingError(f"Last-Event-ID {value[:40]!r} is not a log index")
    return int(value.strip())


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES, what: str = "request body") -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(limit, what)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    violations = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in {"query", "path", "body"}),
            "rule": str(e.get("type", "invalid")),
            "message": str(e.get("msg", "invalid value")),
        }
        for e in error.errors()
    ]
    body = {
        "type": PROBLEM_BASE + "invalid-parameter",
        "title": "Invalid request parameter",
        "status": 422,
        "detail": "; ".join(f"{v['field']}: {v['message']}" for v in violations),
        "instance": request.url.path,
        "violations": violations,
    }
    return JSONResponse(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)


def _http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    body = {
        "type": PROBLEM_BASE + slug,
        "title": str(error.detail),
        "status": error.status_code,
        "detail": str(error.detail),
        "instance": request.url.path,
    }
    return JSONResponse(
        body, status_code=error.status_code, headers=error.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def create_app(  # noqa: PLR0913 - the service, then keyword-only options and test seams
    service: TrackService,
    *,
    public_origin: str,
    clock: Clock | None = None,
    delivery: DeliveryService | None = None,
    annexes: AnnexService | None = None,
    tick_interval: float | None = _RECHECK_SECONDS,
    replay: ReplayWindow | None = None,
    streams_per_member: int = DEFAULT_STREAMS_PER_MEMBER,
) -> FastAPI:
    """Build the HTTP API around a track service.

    Args:
        service: The track service.
        public_origin: The scheme and authority clients send to
            (``https://backchannel.example``); RFC 9421 target URIs are built
            from it, never from the ``Host`` header.
        clock: The clock for ``created`` skew and key usability (default: system clock).
        delivery: The delivery service over ``service`` (default: one with the
            default :class:`~backchannel.broker.DeliveryPolicy`, signing as the
            track service's node).
        annexes: The annex service over ``service`` (default: one with the
            default size limit, 1 MiB).
        tick_interval: The longest pause, in seconds, of the lifespan task that
            ticks due tracks; ``None`` runs no such task (tests tick by hand).
        replay: The replay window, with its per-key and per-track budgets
            (default: :class:`~backchannel.service.replay.ReplayWindow`'s
            defaults over the allowed skew; issue #8).
        streams_per_member: The most inbox streams one member may hold open (429 past it).

    Returns:
        The FastAPI application.
    """
    chosen_clock = clock or SystemClock()
    if delivery is None:
        # the delivery service signs dead letters and escalations with the same node key
        delivery = DeliveryService(service, service.node, DeliveryPolicy(), clock=chosen_clock)
    limits = (replay or ReplayWindow(DEFAULT_MAX_SKEW), StreamSlots(streams_per_member))
    api = _Api(service, delivery, annexes or AnnexService(service), public_origin, chosen_clock, limits)
    app = FastAPI(
        title="backchannel",
        version="1",
        summary="Signed commands in, a verifiable log out.",
        responses=_ERROR_RESPONSES,
        lifespan=None if tick_interval is None else _ticker(api, tick_interval),
    )

    _add_error_handlers(app)
    _add_command_route(app, api)
    _add_read_routes(app, api)
    _add_delivery_routes(app, api)
    _add_annex_routes(app, api)
    add_deal_routes(app, api)
    _add_witness_routes(app, api)
    _add_text_routes(app, api)
    _install_openapi(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def _any_error(request: Request, error: Exception) -> JSONResponse:
        return problem_response(problem_for(error, instance=request.url.path))

    async def _validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_problem(request, error)

    async def _http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _http_problem(request, error)

    app.add_exception_handler(BackchannelError, _any_error)  # expected: answered, not re-raised
    app.add_exception_handler(Exception, _any_error)  # a bug: answered with a bare 500, then logged
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


async def _threaded(call: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - forwarded as given
    return await run_in_threadpool(call, *args)


def _add_command_route(app: FastAPI, api: _Api) -> None:
    @app.post(
        "/v1/tracks/{track}/commands",
        response_model=CommandResponse,
        status_code=201,
        responses={200: {"model": CommandResponse, "description": "An idempotent retry: the first result"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignedCommand"}}},
            },
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
            ],
        },
    )
    async def post_command(track: str, request: Request) -> JSONResponse:
        """Run one signed command."""
        body = await _read_body(request, MAX_BODY_BYTES)
        signed = await _threaded(api.parse_command, request, track, body)
        [outcome] = await api.run([signed])
        status, response = api.command_response(outcome)
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @app.post(
        "/v1/tracks/{track}/commands/batch",
        response_model=BatchResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequestModel"}}
                },
            }
        },
    )
    async def post_batch(track: str, request: Request) -> BatchResponse:
        """Run many signed commands of one member, in order, in shared appends (group commit).

        Each command is decided as if sent alone, against the state the ones before
        it leave; each gets its own status and result or problem. The request is
        refused whole (and nothing runs) if it is malformed, mixes members or tracks,
        or is not signed by the commands' member.
        """
        body = await _read_body(request, MAX_BATCH_BODY_BYTES)
        commands = await _threaded(api.parse_batch, request, track, body)
        outcomes = await api.run(commands)
        path = request.url.path
        return BatchResponse(results=[api.batch_item(o, f"{path}#{i}") for i, o in enumerate(outcomes)])


def _add_read_routes(app: FastAPI, api: _Api) -> None:  # noqa: C901 - one nested handler per read route

    @app.get("/v1/tracks/{track}/events", response_model=EventsResponse)
    async def get_events(
        track: str,
        request: Request,
        after: _Index = 0,
        limit: _Limit = 100,
    ) -> EventsResponse:
        """The log entries the requester may see, from index ``after`` on."""
        await _read_body(request)
        return await _threaded(api.events, request, track, after, limit)

    @app.get("/v1/tracks/{track}/leaves", response_model=LeavesResponse)
    async def get_leaves(track: str, request: Request, start: _Index = 0, end: _End = None) -> LeavesResponse:
        """Leaf hashes in ``[start, end)`` (at most 1000): the witness view."""
        await _read_body(request)
        return await _threaded(api.leaves, request, track, start, end)

    @app.get("/v1/tracks/{track}/checkpoint", response_model=CheckpointResponse)
    async def get_checkpoint(
        track: str, request: Request, cosigned: _Cosigned = 0, wait: _CosignedTimeout = 0.0
    ) -> CheckpointResponse:
        """The latest signed checkpoint, with every stored witness cosignature appended.

        With ``cosigned=k``: the newest checkpoint with at least *k* cosignatures (404 if none),
        waiting up to ``timeout`` seconds for one to appear.
        """
        await _read_body(request)
        await _threaded(api.authenticate_reader, request, track, b"")
        deadline = time.monotonic() + wait
        while True:
            since = api.changes.generation
            try:
                return await _threaded(api.checkpoint, track, cosigned)
            except NotFoundError:
                remaining = deadline - time.monotonic()
                if cosigned == 0 or remaining <= 0 or await request.is_disconnected():
                    raise
            await api.changes.wait(since, min(remaining, _RECHECK_SECONDS))

    @app.get("/v1/tracks/{track}/proofs/inclusion", response_model=InclusionProofResponse)
    async def get_inclusion(
        track: str, request: Request, index: _Index, size: _Index
    ) -> InclusionProofResponse:
        """Inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        await _read_body(request)
        return await _threaded(api.inclusion, request, track, index, size)

    @app.get("/v1/tracks/{track}/proofs/consistency", response_model=ConsistencyProofResponse)
    async def get_consistency(
        track: str, request: Request, old: _Index, new: _Index
    ) -> ConsistencyProofResponse:
        """Consistency proof from size ``old`` to size ``new``."""
        await _read_body(request)
        return await _threaded(api.consistency, request, track, old, new)

    @app.get("/v1/tracks/{track}/messages/{message_id}/receipts", response_model=ReceiptProofsResponse)
    async def get_receipts(track: str, message_id: str, request: Request) -> ReceiptProofsResponse:
        """Proof of receipt of a message, per recipient party (its author's party and the mediator only)."""
        await _read_body(request)
        return await _threaded(api.receipts, request, track, message_id)

    @app.get("/v1/tracks/{track}/escrows/{escrow_id}", response_model=EscrowResponse)
    async def get_escrow(track: str, escrow_id: _EscrowId, request: Request) -> EscrowResponse:
        """An escrow, its signatures and status, and how far its release condition is now (ADR-0017)."""
        await _read_body(request)
        return await _threaded(api.escrow, request, track, escrow_id)

    @app.get("/v1/tracks/{track}/obligations/{obligation}", response_model=ObligationResponse)
    async def get_obligation(track: str, obligation: str, request: Request) -> ObligationResponse:
        """An obligation's terms, current level and tokens, and its ladder history (ADR-0018)."""
        await _read_body(request)
        return await _threaded(api.obligation, request, track, obligation)

    @app.get("/v1/service", response_model=ServiceInfo)
    def get_service() -> ServiceInfo:
        """The service node's key (what ``open_track`` names) and the log key. Unauthenticated."""
        return api.service_info()


def _add_annex_routes(app: FastAPI, api: _Api) -> None:
    @app.put(
        "/v1/tracks/{track}/annexes/{digest}",
        response_model=AnnexResponse,
        status_code=201,
        responses={200: {"model": AnnexResponse, "description": "Already uploaded by the requester's party"}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}},
    )
    async def put_annex(track: str, digest: _Digest, request: Request) -> JSONResponse:
        """Upload an annex blob (raw bytes, usually sealed) whose SHA-256 is ``digest``."""
        body = await _read_body(request, api.annexes.max_bytes, "annex")
        status, response = await _threaded(api.put_annex, request, track, digest, body)
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @app.get(
        "/v1/tracks/{track}/annexes/{digest}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": _BINARY}, "description": "The blob as uploaded"}
        },
    )
    async def get_annex(track: str, digest: _Digest, request: Request) -> Response:
        """An annex blob, exactly as uploaded (404 unless the requester may read it)."""
        await _read_body(request)
        data = await _threaded(api.get_annex, request, track, digest)
        headers = {"Content-Digest": content_digest(data), "Cache-Control": "no-store"}
        return Response(data, media_type="application/octet-stream", headers=headers)


def _add_witness_routes(app: FastAPI, api: _Api) -> None:
    @app.post(
        "/v1/tracks/{track}/checkpoints/{size}/cosignatures",
        response_model=CosignatureResponse,
        status_code=201,
        responses={200: {"model": CosignatureResponse, "description": "An equal or newer one was kept"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CosignatureRequestModel.model_json_schema()}},
            }
        },
    )
    async def post_cosignature(track: str, size: _Size, request: Request) -> JSONResponse:
        """Submit a witness's C2SP cosignature/v1 of the checkpoint of ``size`` (witness parties only)."""
        body = await _read_body(request)
        status, response = await _threaded(api.add_cosignature, request, track, size, body)
        if status == 201:
            api.changes.notify()
        return JSONResponse(response.model_dump(mode="json"), status_code=status)


def _add_text_routes(app: FastAPI, api: _Api) -> None:
    @app.get("/v1/tracks/{track}/texts", response_model=TextsResponse)
    async def get_texts(track: str, request: Request) -> TextsResponse:
        """The text policy and every document (mediator and delegations only)."""
        await _read_body(request)
        return await _threaded(api.list_texts, request, track)

    @app.get("/v1/tracks/{track}/texts/{doc}", response_model=TextResponse)
    async def get_text(track: str, doc: str, request: Request, version: _Version = None) -> TextResponse:
        """Version ``version`` of a document (default: the current one)."""
        await _read_body(request)
        return await _threaded(api.get_text, request, track, doc, version)

    @app.get("/v1/tracks/{track}/texts/{doc}/diff", response_model=TextDiffResponse)
    async def get_text_diff(
        track: str, doc: str, request: Request, old: _FromVersion, new: _ToVersion
    ) -> TextDiffResponse:
        """A unified diff from version ``from`` to version ``to``."""
        await _read_body(request)
        return await _threaded(api.text_diff, request, track, doc, old, new)

    @app.get("/v1/tracks/{track}/texts/{doc}/comments", response_model=TextCommentsResponse)
    async def get_text_comments(track: str, doc: str, request: Request) -> TextCommentsResponse:
        """The comments on a document the requester may read (the mediator: all; a delegation: its own)."""
        await _read_body(request)
        return await _threaded(api.text_comments, request, track, doc)


def _ticker(api: _Api, interval: float) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            failures = 0  # the ticker outlives any failure, backs off, and logs it once (issue #8)
            while True:
                try:
                    wait = await _threaded(api.tick_due)
                except Exception:  # noqa: BLE001 - the ticker outlives any one failure
                    failures += 1
                    if failures == 1:
                        _log.exception(
                            "the periodic work failed; backing off (logged once until it recovers)"
                        )
                    await asyncio.sleep(min(_MAX_TICK_BACKOFF, interval * 2 ** min(failures, 16)))
                    continue
                if failures:
                    _log.warning("the periodic work recovered after %d failures", failures)
                    failures = 0
                await asyncio.sleep(interval if wait is None else min(interval, max(0.01, wait)))

        task = asyncio.create_task(loop(), name="backchannel-delivery-ticker")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def _add_delivery_routes(app: FastAPI, api: _Api) -> None:
    @app.post("/v1/tracks/{track}/inbox/lease", response_model=DeliveriesResponse)
    async def post_lease(track: str, request: Request, max_n: _Max = None) -> DeliveriesResponse:
        """Lease the requester's party's deliveries (most urgent first), within its credit."""
        body = await _read_body(request)
        _, reader = await _threaded(api.authenticate_reader, request, track, body)
        return DeliveriesResponse(deliveries=await _threaded(api.lease, track, reader.member, max_n))

    @app.get("/v1/tracks/{track}/inbox/poll", response_model=DeliveriesResponse)
    async def get_poll(
        track: str, request: Request, wait: _PollTimeout = 30.0, max_n: _Max = None
    ) -> DeliveriesResponse:
        """Long poll: lease as soon as something is deliverable, or answer ``[]`` after ``timeout`` s."""
        await _read_body(request)
        _, reader = await _threaded(api.authenticate_reader, request, track, b"")
        deadline = time.monotonic() + wait
        while True:
            since = api.changes.generation
            leased = await _threaded(api.lease, track, reader.member, max_n)
            remaining = deadline - time.monotonic()
            if leased or remaining <= 0 or await request.is_disconnected():
                return DeliveriesResponse(deliveries=leased)
            await api.changes.wait(since, min(remaining, _RECHECK_SECONDS))

    @app.get(
        "/v1/tracks/{track}/inbox/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    async def get_stream(
        track: str,
        request: Request,
        lifetime: _StreamTimeout = 30.0,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: ``id: <log index>``, ``event: delivery``, ``data: <delivery JSON>``.

        Resumes after ``Last-Event-ID``; a comment every 15 s keeps it alive; it ends after
        ``timeout`` seconds (reconnect with the last id seen).
        """
        await _read_body(request)
        after = _last_event_id(last_event_id)
        _, reader = await _threaded(api.authenticate_reader, request, track, b"")
        slot = api.streams.acquire(track, reader.member, lifetime)  # 429 past the member's limit
        events = _released(
            _stream(api, track=track, member=reader.member, after=after, lifetime=lifetime),
            lambda: api.streams.release(track, reader.member, slot),
        )
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post("/v1/tracks/{track}/heartbeat", response_model=HeartbeatResponse)
    async def post_heartbeat(track: str, request: Request) -> HeartbeatResponse:
        """Record that the requester is alive."""
        body = await _read_body(request)
        return await _threaded(api.heartbeat, request, track, body)

    @app.get("/v1/tracks/{track}/presence", response_model=PresenceResponse)
    async def get_presence(track: str, request: Request) -> PresenceResponse:
        """Every party's liveness (mediator only: 403 for anyone else)."""
        await _read_body(request)
        return await _threaded(api.presence, request, track)


async def _stream(api: _Api, *, track: str, member: str, after: int, lifetime: float) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + lifetime
    last_sent = time.monotonic()
    yield b": stream open\n\n"
    for delivery in await _threaded(api.resend, track, member, after):
        yield _sse(delivery)
        last_sent = time.monotonic()
    while True:
        since = api.changes.generation
        for delivery in await _threaded(api.lease, track, member, None):
            yield _sse(delivery)
            last_sent = time.monotonic()
        now = time.monotonic()
        if now >= deadline:  # a disconnect cancels this generator (StreamingResponse)
            return
        if now - last_sent >= api.keepalive:
            yield b": keep-alive\n\n"
            last_sent = now
        wake = min(deadline - now, _RECHECK_SECONDS, max(0.0, last_sent + api.keepalive - now))
        await api.changes.wait(since, wake)


async def _released(events: AsyncIterator[bytes], release: Callable[[], None]) -> AsyncIterator[bytes]:
    """``events``, then ``release()`` however the stream ends (its end, an error, a disconnect)."""
    try:
        async for chunk in events:
            yield chunk
    finally:
        release()


def _problem_responses(schema: dict[str, Any]) -> None:
    """Declare error bodies as ``application/problem+json`` of ``ProblemModel`` (what is sent)."""
    problem = {"schema": {"$ref": "#/components/schemas/ProblemModel"}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status in _PROBLEM_STATUSES:
                    response["content"] = {PROBLEM_MEDIA_TYPE: problem}


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            command_schema = SignedCommandModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(command_schema.pop("$defs", {}))
            components["SignedCommand"] = command_schema
            batch_schema = BatchRequestModel.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(batch_schema.pop("$defs", {}))
            components["BatchRequestModel"] = batch_schema
            _problem_responses(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
