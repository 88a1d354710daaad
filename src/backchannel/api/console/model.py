"""What each console view shows a reader, read through the same service reads and rules as the API.

Every section below names the API read it mirrors, and asks the same question
of the same function with the same reader:

- presence and queues: ``GET .../presence`` (the mediator's members only);
- coordination (blocked, deadlocks, bookings, the wait-for graph):
  ``GET .../coordination`` (the mediator's members of a coordination log only);
- deals: :func:`~backchannel.service.deals.deal_list` and
  :func:`~backchannel.service.deals.deal_view`, as ``GET .../deals``;
- escrows: :meth:`EscrowService.status <backchannel.service.escrow.EscrowService.status>`
  (``GET .../escrows/{id}``; an escrow the party may not see is left out);
- obligations: :func:`~backchannel.service.obligations.obligation_view`;
- forecasts: :func:`~backchannel.service.forecasts.forecasts_view`;
- witnesses: the cosigned checkpoint (``GET .../checkpoint``: public).

This module renders nothing (:mod:`backchannel.api.console.pages` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backchannel.api.auth import Reader
from backchannel.api.console.sessions import ConsoleSessions, Session
from backchannel.api.context import ApiContext
from backchannel.api.escrow_schemas import escrow_response
from backchannel.domain import PartyKind, TrackState
from backchannel.errors import NotFoundError
from backchannel.service.deals import deal_list, deal_view
from backchannel.service.forecasts import forecasts_view
from backchannel.service.obligations import obligation_view

__all__ = [
    "WITNESS_GRACE",
    "Blocked",
    "Graph",
    "Overview",
    "PartyLine",
    "TrackRow",
    "TrackView",
    "overview",
    "track_view",
]

WITNESS_GRACE = timedelta(seconds=60)
"""A witness that has not cosigned the newest entries for this long is shown as failing."""


@dataclass(frozen=True, slots=True)
class Blocked:
    """A track blocked, as a coordination log the reader mediates says."""

    log: str
    reasons: tuple[str, ...]
    deadlocked: tuple[str, ...]  # the cycles in words


@dataclass(frozen=True, slots=True)
class Meeting:
    """A booking starting later (the next meetings of a track)."""

    log: str
    booking_id: str
    resource: str
    holder: str
    start: datetime
    end: datetime
    status: str
    at_risk: object = None


@dataclass(slots=True)
class TrackRow:
    """One line of the overview."""

    track: str
    title: str
    size: int
    member: str
    party: str
    kind: str
    state: str  # ok, blocked, deadlocked, damaged
    blocked: list[Blocked] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    is_coordination_log: bool = False


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview: the reader's tracks, the damaged ones, and when it was read."""

    at: datetime
    rows: list[TrackRow]
    damaged: list[tuple[str, int | None]]


@dataclass(frozen=True, slots=True)
class PartyLine:
    """One party's liveness and queue (mediator only)."""

    party: str
    kind: str
    status: str  # online, silent, offline
    last_heartbeat: datetime | None
    silent_since: datetime | None
    queued: int
    in_flight: int
    credit: int
    oldest_unacked: datetime | None
    redeliveries: int
    dead_letters: list[tuple[str, str]]  # (message id, reason)
    escalations: list[tuple[str, int, tuple[str, ...]]]  # (message id, level, alerted)


@dataclass(frozen=True, slots=True)
class Graph:
    """A coordination log's wait-for graph: edges, and the edges on a deadlock cycle."""

    edges: list[tuple[str, str, str, str]]  # waiter, holder, kind, reason
    cycle_edges: set[tuple[str, str]]
    cycles: list[str]


@dataclass(slots=True)
class TrackView:
    """Everything a track's page shows its reader (the API's rules decide each section)."""

    at: datetime
    state: TrackState
    reader: Reader
    mediator: bool
    parties: list[PartyLine] | None = None  # None: not the mediator (the API answers 403)
    deals: list[dict[str, Any]] = field(default_factory=list)
    escrows: list[dict[str, Any]] = field(default_factory=list)
    obligations: list[dict[str, Any]] = field(default_factory=list)
    forecasts: list[dict[str, Any]] = field(default_factory=list)
    witnesses: dict[str, Any] = field(default_factory=dict)
    coordination: dict[str, Any] | None = None
    graph: Graph | None = None


def _is_mediator(state: TrackState, reader: Reader) -> bool:
    return state.parties[state.member(reader.member).party].kind is PartyKind.MEDIATOR


def _is_log(state: TrackState) -> bool:
    book = state.coordination
    return bool(book.dependencies or book.resources or book.bookings or book.deadlocks)


def overview(ctx: ApiContext, sessions: ConsoleSessions, session: Session) -> Overview:
    """The reader's tracks with blocked or deadlocked state and next meetings, and damaged tracks."""
    now = ctx.clock.now()
    memberships = sessions.memberships(session)
    sizes = {info.track: info.size for info in ctx.service.store.list_tracks()}  # one query for all
    rows: dict[str, TrackRow] = {}
    logs: list[TrackState] = []
    for state, reader in memberships:
        member = state.member(reader.member)
        rows[state.track] = TrackRow(
            track=state.track,
            title=state.title,
            size=sizes.get(state.track, 0),
            member=reader.member,
            party=member.party,
            kind=state.parties[member.party].kind.value,
            state="ok",
        )
        if _is_mediator(state, reader) and _is_log(state):
            rows[state.track].is_coordination_log = True
            logs.append(state)
    for log in logs:  # what the coordination logs the reader mediates say about its tracks
        _from_log(ctx, log, rows, now)
    report = ctx.service.integrity
    damaged = [] if report is None else [(t, index) for t, (index, _) in sorted(report.damaged.items())]
    return Overview(now, list(rows.values()), damaged)


def _from_log(ctx: ApiContext, log: TrackState, rows: dict[str, TrackRow], now: datetime) -> None:
    status = ctx.coordination.status(log.track, now)
    cycles = list(log.coordination.deadlocks.values())
    for track, waits in status.blocked.items():
        row = rows.get(track)
        if row is None:
            continue  # a track the reader does not belong to: named in the log, not listed here
        deadlocked = tuple(c.cycle for c in cycles if any(n.partition("#")[0] == track for n in c.nodes))
        row.blocked.append(Blocked(log.track, tuple(d.describe() for d in waits), deadlocked))
        row.state = "deadlocked" if deadlocked or row.state == "deadlocked" else "blocked"
    for c in cycles:  # a cycle through bookings only: its tracks are deadlocked too
        for node in c.nodes:
            row = rows.get(node.partition("#")[0])
            if row is not None and row.state != "deadlocked":
                row.state = "deadlocked"
                row.blocked.append(Blocked(log.track, (), (c.cycle,)))
    for record in log.coordination.booking_list():
        booking = record.booking
        row = rows.get(booking.holder.partition("#")[0])
        if row is not None and booking.end > now:
            row.meetings.append(
                Meeting(
                    log.track,
                    booking.booking_id,
                    booking.resource,
                    booking.holder,
                    booking.start,
                    booking.end,
                    record.status.value,
                    getattr(record, "at_risk", None),
                )
            )
    for row in rows.values():
        row.meetings.sort(key=lambda m: m.start)


def track_view(ctx: ApiContext, state: TrackState, reader: Reader) -> TrackView:
    """A track's page for ``reader`` (who the sessions resolved in ``state``)."""
    now = ctx.clock.now()
    mediator = _is_mediator(state, reader)
    view = TrackView(now, state, reader, mediator)
    if mediator:
        view.parties = _parties(ctx, state, now)
    deals = deal_list(state, reader.member)
    view.deals = [deal_view(state, reader.member, str(d["deal_id"])) for d in deals]
    for escrow_id in sorted(state.escrows.escrows):
        try:
            status = ctx.escrows.status(state.track, escrow_id, reader.member, now)
        except NotFoundError:
            continue  # the party may not see it: the API answers 404
        view.escrows.append(escrow_response(status).model_dump(mode="json"))
    for obligation in sorted(state.obligations):
        try:
            view.obligations.append(dict(obligation_view(state, reader.member, obligation, now)))
        except NotFoundError:
            continue
    listed = forecasts_view(state, reader.member, now)["forecasts"]
    view.forecasts = [dict(f) for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
    view.witnesses = _witnesses(ctx, state, now)
    if mediator and _is_log(state):
        view.coordination, view.graph = _coordination(ctx, state, now)
    return view


def _parties(ctx: ApiContext, state: TrackState, now: datetime) -> list[PartyLine]:
    presence = {p.party: p for p in ctx.delivery.presence(state.track, now)}
    queues = ctx.delivery.statistics(state.track)
    credit = ctx.delivery.policy.credit
    lines: list[PartyLine] = []
    for party, record in state.parties.items():
        p, q = presence.get(party), queues.get(party)
        pending = state.pending_for(party)
        dead: list[tuple[str, str]] = []
        escalated: list[tuple[str, int, tuple[str, ...]]] = []
        for message in state.messages.values():
            delivery = message.deliveries.get(party)
            if delivery is None:
                continue
            if delivery.dead_letter is not None:
                dead.append((message.message_id, delivery.dead_letter.reason))
            if delivery.escalation_level:
                escalated.append((message.message_id, delivery.escalation_level, delivery.escalated_to))
        status = "offline" if p is None or p.status.value == "never_seen" else p.status.value
        lines.append(
            PartyLine(
                party=party,
                kind=record.kind.value,
                status=status,
                last_heartbeat=None if p is None else p.last_heartbeat,
                silent_since=None if p is None else p.silent_since,
                queued=0 if q is None else q.queued,
                in_flight=0 if q is None else q.in_flight,
                credit=credit,
                oldest_unacked=min((m.delivery.at for m in pending), default=None),
                redeliveries=0 if q is None else q.redeliveries_total,
                dead_letters=dead,
                escalations=escalated,
            )
        )
    return lines


def _witnesses(ctx: ApiContext, state: TrackState, now: datetime) -> dict[str, Any]:
    store = ctx.service.store
    witnesses = sorted(p for p, r in state.parties.items() if r.kind is PartyKind.WITNESS)
    size = store.size(state.track)
    cosigned = store.latest_cosigned_size(state.track, 1) if witnesses else None
    cosignatures = [] if not cosigned else list(store.cosignatures(state.track, cosigned))
    newest = max((datetime.fromtimestamp(c.timestamp, now.tzinfo) for c in cosignatures), default=None)
    lag = max(0, size - (cosigned or 0))
    failing = bool(witnesses) and lag > 0 and (newest is None or now - newest > WITNESS_GRACE)
    return {
        "parties": witnesses,
        "size": size,
        "cosigned_size": cosigned,
        "lag": lag,
        "cosignatures": [(c.cosigner, datetime.fromtimestamp(c.timestamp, now.tzinfo)) for c in cosignatures],
        "newest": newest,
        "failing": failing,
        "split_views": [
            (a.reporter, datetime.fromtimestamp(a.reported, now.tzinfo), a.reason)
            for a in ctx.witnesses.split_views(state.track)
        ],
    }


def _coordination(ctx: ApiContext, state: TrackState, now: datetime) -> tuple[dict[str, Any], Graph]:
    status = ctx.coordination.status(state.track, now)
    book = state.coordination
    graph = book.graph()
    deadlocks = sorted(book.deadlocks.values(), key=lambda d: d.detected_at)
    cycle_edges: set[tuple[str, str]] = set()
    for d in deadlocks:
        nodes = list(d.nodes)
        cycle_edges.update(zip(nodes, nodes[1:] + nodes[:1], strict=True))
    for cycle in graph.deadlocks():
        cycle_edges.update((w.waiter, w.holder) for w in cycle.waits)
    edges = [(w.waiter, w.holder, w.kind.value, w.reason) for w in graph.waits()]
    bookings = [
        {
            "booking_id": r.booking.booking_id,
            "resource": r.booking.resource,
            "holder": r.booking.holder,
            "start": r.booking.start,
            "end": r.booking.end,
            "priority": r.booking.priority,
            "status": r.status.value,
            "at_risk": getattr(r, "at_risk", None),
        }
        for r in book.booking_list()
    ]
    info = {
        "dependencies": [(d.dependency_id, d.status.value, d.describe()) for d in status.dependencies],
        "blocked": {t: [d.describe() for d in ds] for t, ds in status.blocked.items()},
        "resources": [
            (v.resource.resource_id, v.resource.kind.value, v.resource.capacity, v.load, v.saturated)
            for v in status.resources
        ],
        "bookings": bookings,
        "deadlocks": [(d.deadlock_id, d.cycle, list(d.suggestions), d.detected_at) for d in deadlocks],
    }
    return info, Graph(edges, cycle_edges, [d.cycle for d in deadlocks])
