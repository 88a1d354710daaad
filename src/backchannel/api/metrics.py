"""``/metrics``: what the service exports to Prometheus (ADR-0029).

Every app gets a :class:`Metrics` with its own ``CollectorRegistry`` (never
the process-global one), so several apps in one process, and the tests, never
collide. Most figures are read at scrape time from the services' own
``statistics()`` snapshots by :class:`ServiceCollector`; only three things are
observed as they happen, through hooks the service layer offers:

- ``backchannel_ack_latency_seconds{priority}``: from a delivery to the
  receipt that settled it (:attr:`DeliveryService.on_settled
  <backchannel.service.delivery.DeliveryService.on_settled>`);
- ``backchannel_group_commit_size``: commands per group commit
  (:attr:`GroupCommitter.on_group <backchannel.service.committer.GroupCommitter.on_group>`);
- ``backchannel_requests_refused_total{reason,status}``: every problem+json
  answer, by its problem type (:func:`count_refusals` wraps the error handlers).

The full list, with the labels, is in ADR-0029 and :data:`EXPORTED`.
This module does not serve the endpoint (:mod:`backchannel.api.routes.ops`
does) and does not decide who may scrape it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from backchannel.api.errors import PROBLEM_BASE
from backchannel.broker import Priority
from backchannel.domain import PartyKind
from backchannel.errors import BackchannelError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from backchannel.api.context import ApiContext

__all__ = ["ACK_BUCKETS", "EXPORTED", "GROUP_BUCKETS", "Metrics", "ServiceCollector", "count_refusals"]

ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
"""Acknowledgement latency buckets, seconds (the default flash deadline is 60 s)."""
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Group-commit size buckets, commands (the committer writes at most 1024 per group)."""

EXPORTED = (
    "backchannel_commands_total",
    "backchannel_events_appended_total",
    "backchannel_log_fsyncs_total",
    "backchannel_group_commits_total",
    "backchannel_group_commit_failures_total",
    "backchannel_group_commit_waiting",
    "backchannel_group_commit_size",
    "backchannel_queue_depth",
    "backchannel_queue_in_flight",
    "backchannel_queue_credit",
    "backchannel_redeliveries_total",
    "backchannel_dead_letters_total",
    "backchannel_escalations_total",
    "backchannel_ack_latency_seconds",
    "backchannel_parties",
    "backchannel_sse_clients",
    "backchannel_requests_refused_total",
    "backchannel_witness_lag_entries",
    "backchannel_tracks",
    "backchannel_track_damaged",
)
"""The metric family names ``/metrics`` exports (a histogram adds ``_bucket``, ``_sum``, ``_count``)."""

_Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class Metrics:
    """One app's metrics: its registry, its event-driven instruments and its collector.

    Args:
        ctx: The routes' shared context (the services read at scrape time).
    """

    def __init__(self, ctx: ApiContext) -> None:
        """Create the registry and hook the services' observers."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.ack_latency = Histogram(
            "backchannel_ack_latency_seconds",
            "Seconds from a delivery to the recipient's receipt that settled it.",
            ["priority"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.group_size = Histogram(
            "backchannel_group_commit_size",
            "Commands written per group commit (one append per track each).",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "backchannel_requests_refused",
            "Requests answered with a problem, by problem type and status.",
            ["reason", "status"],
            registry=self.registry,
        )
        for priority in Priority:  # every priority shows, observed or not
            self.ack_latency.labels(priority=priority.value)
        self.registry.register(ServiceCollector(ctx))
        ctx.delivery.on_settled = self.observe_ack
        ctx.committer.on_group = self.group_size.observe

    def observe_ack(self, priority: str, seconds: float) -> None:
        """Record one acknowledgement latency (``priority``: ``flash``, ``priority`` or ``routine``)."""
        self.ack_latency.labels(priority=priority).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything, now."""
        return generate_latest(self.registry)


class ServiceCollector(Collector):
    """Reads the services' ``statistics()`` at scrape time (nothing is counted twice).

    Args:
        ctx: The routes' shared context.
    """

    def __init__(self, ctx: ApiContext) -> None:
        """Bind to the services."""
        self._ctx = ctx

    def collect(self) -> Iterable[Metric]:
        """Yield every metric family, read now."""
        yield from self._commands()
        yield from self._committer()
        yield from self._queues()
        yield from self._parties()
        yield from self._tracks()
        streams = GaugeMetricFamily("backchannel_sse_clients", "Inbox event streams (SSE) open now.")
        streams.add_metric([], self._ctx.streams.statistics().open)
        yield streams

    def _commands(self) -> Iterator[Metric]:
        counts = self._ctx.service.type_counts()
        commands = CounterMetricFamily(
            "backchannel_commands", "Commands decided, by type and outcome.", labels=["type", "outcome"]
        )
        for (kind, outcome), n in sorted(counts.commands.items()):
            commands.add_metric([kind, outcome], n)
        events = CounterMetricFamily(
            "backchannel_events_appended", "Log events appended, by type.", labels=["type"]
        )
        for kind, n in sorted(counts.events.items()):
            events.add_metric([kind], n)
        fsyncs = CounterMetricFamily(
            "backchannel_log_fsyncs",
            "Durable log appends: one transaction each, ending in one WAL fsync (synchronous=FULL).",
        )
        fsyncs.add_metric([], self._ctx.service.statistics().appends)
        yield from (commands, events, fsyncs)

    def _committer(self) -> Iterator[Metric]:
        stats = self._ctx.committer.statistics()
        yield _one(
            CounterMetricFamily, "backchannel_group_commits", "Group commits written.", stats.groups_written
        )
        yield _one(
            CounterMetricFamily,
            "backchannel_group_commit_failures",
            "Group commits that failed whole (every caller got the error).",
            stats.groups_failed,
        )
        yield _one(
            GaugeMetricFamily, "backchannel_group_commit_waiting", "Requests waiting for the next group.",
            stats.requests_waiting,
        )  # fmt: skip

    def _queues(self) -> Iterator[Metric]:
        labels = ["track", "party"]
        depth = GaugeMetricFamily(
            "backchannel_queue_depth", "Messages held (ready and in flight).", labels=labels
        )
        flight = GaugeMetricFamily(
            "backchannel_queue_in_flight", "Deliveries leased and unsettled: credit in use.", labels=labels
        )
        redeliveries = CounterMetricFamily(
            "backchannel_redeliveries", "Leases expired unsettled.", labels=labels
        )
        dead = CounterMetricFamily("backchannel_dead_letters", "Messages dead-lettered.", labels=labels)
        escalations = CounterMetricFamily("backchannel_escalations", "Escalations raised.", labels=labels)
        for (track, party), s in self._ctx.delivery.queue_statistics().items():
            depth.add_metric([track, party], s.queued)
            flight.add_metric([track, party], s.in_flight)
            redeliveries.add_metric([track, party], s.redeliveries_total)
            dead.add_metric([track, party], s.dead_lettered_total)
            escalations.add_metric([track, party], s.escalated_total)
        credit = _one(
            GaugeMetricFamily, "backchannel_queue_credit", "Most unsettled deliveries one consumer may hold.",
            self._ctx.delivery.policy.credit,
        )  # fmt: skip
        yield from (depth, flight, credit, redeliveries, dead, escalations)

    def _parties(self) -> Iterator[Metric]:
        parties = GaugeMetricFamily(
            "backchannel_parties",
            "Parties by liveness (online, silent, never seen).",
            labels=["track", "status"],
        )
        for track, snapshot in self._ctx.delivery.presence_snapshot().items():
            statuses = [p.status.value for p in snapshot]
            for status in sorted(set(statuses)):
                parties.add_metric([track, status], statuses.count(status))
        yield parties

    def _tracks(self) -> Iterator[Metric]:
        service = self._ctx.service
        report = service.integrity
        damaged = {} if report is None else report.damaged
        tracks = GaugeMetricFamily(
            "backchannel_tracks", "Tracks in the store, served or set aside.", labels=["state"]
        )
        flagged = GaugeMetricFamily(
            "backchannel_track_damaged",
            "1 for a track the start-up integrity check set aside.",
            labels=["track"],
        )
        lag = GaugeMetricFamily(
            "backchannel_witness_lag_entries",
            "Newest checkpoint size minus the newest witness-cosigned size (tracks with witnesses).",
            labels=["track"],
        )
        infos = service.store.list_tracks()
        for info in infos:
            if info.track in damaged:
                flagged.add_metric([info.track], 1)
                continue
            state = service.state(info.track)
            if state is not None and any(p.kind is PartyKind.WITNESS for p in state.parties.values()):
                cosigned = service.store.latest_cosigned_size(info.track, 1) or 0
                lag.add_metric([info.track], max(0, info.size - cosigned))
        tracks.add_metric(["served"], len(infos) - len(damaged))
        tracks.add_metric(["damaged"], len(damaged))
        yield from (tracks, flagged, lag)


def _one(family: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str, value: float) -> Metric:
    metric = family(name, doc)
    metric.add_metric([], value)
    return metric


def count_refusals(app: FastAPI, metrics: Metrics) -> None:
    """Wrap every installed error handler so each problem answer counts by its problem type."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _counted(handler, metrics)


def _counted(handler: _Handler, metrics: Metrics) -> _Handler:
    async def counted(request: Request, error: Any) -> Response:  # noqa: ANN401 - as Starlette passes it
        answer = handler(request, error)
        response = await answer if inspect.isawaitable(answer) else answer
        metrics.refused.labels(reason=_reason(response), status=str(response.status_code)).inc()
        return response

    return counted


def _reason(response: Response) -> str:
    """The problem type's slug (``unauthenticated``, ``rate-limited``...), or ``other``."""
    try:
        kind = json.loads(bytes(response.body)).get("type", "")
    except (ValueError, AttributeError, BackchannelError):
        return "other"
    return (
        kind.removeprefix(PROBLEM_BASE)
        if isinstance(kind, str) and kind.startswith(PROBLEM_BASE)
        else "other"
    )
