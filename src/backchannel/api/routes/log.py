"""The transparency-log reads: entries, leaves, checkpoints, proofs and proofs of receipt.

- ``GET .../events``: the entries the requester may see, with their salts;
  searched with ``type``, ``member``, ``since``, ``until`` (:mod:`backchannel.api.routes.admin`);
- ``GET .../leaves``: leaf hashes only (the witness view);
- ``GET .../checkpoint`` (``?cosigned=k&timeout=s``), ``.../proofs/inclusion``,
  ``.../proofs/consistency``;
- ``GET .../messages/{message_id}/receipts``: proof of receipt of a message for
  each recipient party (its author's party and the mediator only; anyone else
  gets the same 404 as for a message that does not exist).

This module does not write to the log.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from backchannel.api.context import (
    MAX_PAGE,
    RECHECK_SECONDS,
    ApiContext,
    read_body,
    threaded,
    visible,
)
from backchannel.api.routes.admin import SearchQuery, search_filter
from backchannel.api.schemas import (
    CheckpointResponse,
    ConsistencyProofResponse,
    EventsResponse,
    InclusionProofResponse,
    LeavesResponse,
    LogEntryModel,
    ReceiptItemModel,
    ReceiptProofModel,
    ReceiptProofsResponse,
    SignerKeyModel,
)
from backchannel.domain import ReceiptRecorded, TrackState, event_from_dict
from backchannel.domain.records import Delivery as DomainDelivery
from backchannel.domain.records import MessageRecord
from backchannel.errors import NotFoundError
from backchannel.log.records import LogEntry
from backchannel.log.signing import b64encode
from backchannel.protocol.wire import SignedCommand

__all__ = ["router"]

_Index = Annotated[int, Query(ge=0)]
_Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
_End = Annotated[int | None, Query(ge=0)]
_Cosigned = Annotated[int, Query(ge=0, le=64, description="at least this many witness cosignatures")]
_CosignedTimeout = Annotated[float, Query(alias="timeout", ge=0, le=60)]
MAX_SCAN = 10_000
"""The most entries one searched page scans (the caller continues from ``next``)."""


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks/{track}/events", response_model=EventsResponse)
    async def get_events(
        track: str,
        request: Request,
        wanted: Annotated[SearchQuery, Depends(search_filter)],
        after: _Index = 0,
        limit: _Limit = 100,
    ) -> EventsResponse:
        """The log entries the requester may see, from index ``after`` on; optionally searched.

        ``type`` (repeatable), ``member``, ``since`` and ``until`` (RFC 3339) keep only the
        matching entries among those the requester may see; a searched page scans at most
        10,000 entries (continue from ``next``).
        """
        await read_body(request)
        return await threaded(partial(_events, wanted=wanted), ctx, request, track, after, limit)

    @router.get("/v1/tracks/{track}/leaves", response_model=LeavesResponse)
    async def get_leaves(track: str, request: Request, start: _Index = 0, end: _End = None) -> LeavesResponse:
        """Leaf hashes in ``[start, end)`` (at most 1000): the witness view."""
        await read_body(request)
        return await threaded(_leaves, ctx, request, track, start, end)

    @router.get("/v1/tracks/{track}/checkpoint", response_model=CheckpointResponse)
    async def get_checkpoint(
        track: str, request: Request, cosigned: _Cosigned = 0, wait: _CosignedTimeout = 0.0
    ) -> CheckpointResponse:
        """The latest signed checkpoint, with every stored witness cosignature appended.

        With ``cosigned=k``: the newest checkpoint with at least *k* cosignatures (404 if none),
        waiting up to ``timeout`` seconds for one to appear.
        """
        await read_body(request)
        await threaded(ctx.auth.reader, request, track, b"")
        deadline = time.monotonic() + wait
        while True:
            since = ctx.changes.generation
            try:
                return await threaded(_checkpoint, ctx, track, cosigned)
            except NotFoundError:
                remaining = deadline - time.monotonic()
                if cosigned == 0 or remaining <= 0 or await request.is_disconnected():
                    raise
            await ctx.changes.wait(since, min(remaining, RECHECK_SECONDS))

    @router.get("/v1/tracks/{track}/proofs/inclusion", response_model=InclusionProofResponse)
    async def get_inclusion(
        track: str, request: Request, index: _Index, size: _Index
    ) -> InclusionProofResponse:
        """Inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        await read_body(request)
        return await threaded(_inclusion, ctx, request, track, index, size)

    @router.get("/v1/tracks/{track}/proofs/consistency", response_model=ConsistencyProofResponse)
    async def get_consistency(
        track: str, request: Request, old: _Index, new: _Index
    ) -> ConsistencyProofResponse:
        """Consistency proof from size ``old`` to size ``new``."""
        await read_body(request)
        return await threaded(_consistency, ctx, request, track, old, new)

    @router.get("/v1/tracks/{track}/messages/{message_id}/receipts", response_model=ReceiptProofsResponse)
    async def get_receipts(track: str, message_id: str, request: Request) -> ReceiptProofsResponse:
        """Proof of receipt of a message, per recipient party (its author's party and the mediator only)."""
        await read_body(request)
        return await threaded(_receipts, ctx, request, track, message_id)

    return router


def _events(  # noqa: PLR0913 - the request, the page and the search
    ctx: ApiContext, request: Request, track: str, after: int, limit: int, *, wanted: SearchQuery
) -> EventsResponse:
    state, reader = ctx.auth.reader(request, track, b"")
    search = wanted.parse()  # after authentication: a stranger learns nothing, not even a 400
    store = ctx.service.store
    size = store.size(track)
    entries: list[LogEntryModel] = []
    cursor = min(after, size)
    stop = min(size, cursor + MAX_SCAN) if search.active else size
    for stored in store.read(track, cursor, stop):
        cursor = stored.seq + 1
        entry = stored.decode()
        if visible(state, reader.member, entry) and search.matches(entry):
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


def _leaves(ctx: ApiContext, request: Request, track: str, start: int, end: int | None) -> LeavesResponse:
    ctx.auth.reader(request, track, b"")
    size = ctx.service.store.size(track)
    stop = min(size, start + MAX_PAGE, size if end is None else end)
    if start > stop:
        raise NotFoundError(f"no leaves from {start} (the log holds {size})")
    hashes = [s.leaf_hash.hex() for s in ctx.service.store.read(track, start, stop)]
    return LeavesResponse(start=start, leaf_hashes=hashes)


def _checkpoint(ctx: ApiContext, track: str, cosigned: int = 0) -> CheckpointResponse:
    """The latest checkpoint (or the newest with ``cosigned`` cosignatures), cosigned; unauthenticated."""
    note = ctx.witnesses.checkpoint(track, cosigned)
    return CheckpointResponse(
        checkpoint=note.to_text(),
        size=note.checkpoint.size,
        log_key=ctx.service.store.get_track(track).log_key,
    )


def _inclusion(
    ctx: ApiContext, request: Request, track: str, index: int, size: int
) -> InclusionProofResponse:
    ctx.auth.reader(request, track, b"")
    current = ctx.service.store.size(track)
    if not index < size <= current:
        raise NotFoundError(f"no inclusion proof of {index} in size {size} (the log holds {current})")
    proof = ctx.service.store.inclusion_proof(track, index, size)
    return InclusionProofResponse(index=index, size=size, proof=[h.hex() for h in proof])


def _consistency(
    ctx: ApiContext, request: Request, track: str, old: int, new: int
) -> ConsistencyProofResponse:
    ctx.auth.reader(request, track, b"")
    current = ctx.service.store.size(track)
    if not old <= new <= current:
        raise NotFoundError(f"no consistency proof from {old} to {new} (the log holds {current})")
    proof = ctx.service.store.consistency_proof(track, old, new)
    return ConsistencyProofResponse(old=old, new=new, proof=[h.hex() for h in proof])


def _receipts(ctx: ApiContext, request: Request, track: str, message_id: str) -> ReceiptProofsResponse:
    state, reader = ctx.auth.reader(request, track, b"")
    party = state.member(reader.member).party
    message = state.messages.get(message_id)
    if message is None or party not in {message.party, state.mediator}:
        # one answer whether the message is missing or another party's: no existence oracle
        # (and without echoing the id: the detail is the same for every id)
        raise NotFoundError(f"no such message whose receipts you may read on track {track!r}")
    deliveries = sorted(message.deliveries.values(), key=lambda d: (d.log_index, d.party))
    proofs = [_receipt_proof(ctx, state, message, d) for d in deliveries]
    for proof in proofs:  # defence in depth: nothing the reader could not read on /events
        for model in (proof.delivery, proof.entry):
            if model is not None:
                entry = LogEntry.from_dict({"signed": model.signed, "salt": model.salt})
                assert visible(state, reader.member, entry), f"entry {model.index} is not visible"
    return ReceiptProofsResponse(
        track=track, message_id=message.message_id, party=message.party, receipts=proofs
    )


def _receipt_proof(
    ctx: ApiContext, state: TrackState, message: MessageRecord, delivery: DomainDelivery
) -> ReceiptProofModel:
    delivered, _ = ctx.entry(state.track, delivery.log_index)
    settled = delivery.settled
    if settled is None:
        status = "pending" if delivery.dead_letter is None else "dead_lettered"
        return ReceiptProofModel(
            party=delivery.party, status=status, delivery_index=delivery.log_index, delivery=delivered,
            log_index=None, entry=None, signer=None, item=None,
        )  # fmt: skip
    model, entry = ctx.entry(state.track, settled.log_index)
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
