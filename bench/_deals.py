"""Benchmark: complete two-phase-commit rounds per second through the HTTP service.

Run alone with ``.venv/bin/python bench/_deals.py [--quick]`` (the driver
``bench/agreements.py`` calls :func:`run`). Figures go to stdout, progress to stderr.

A real ``backchannel serve`` subprocess on 127.0.0.1 (``channel.Server``: a fresh
data directory under ``.bench-tmp/channel/``, SQLite with ``synchronous=FULL``)
holds one track: mediator qatar, three delegations (usa, iran, eu) whose
principals vote. One **round** is:

1. qatar signs and sends ``prepare_deal`` (a two-phase deal of two steps, deadline in one hour);
2. each of the three principals signs the deal's hash (computed from the terms on
   the client, as a voter would) and sends ``vote_deal`` YES;
3. the third vote's answer carries ``deal.committed`` (the vote and the commit in
   one append): the round is complete.

So a round is four signed commands, four HTTP requests and four durable appends
(fewer when group commit merges concurrent ones). Two runs: one round at a time
(latency per round), then several rounds in flight (one thread per round in
flight, each with its own connections), where group commit shares fsyncs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from _report import Report, Row, count, figure, heading, note, print_context, print_summary, progress
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.wire import enrolment_key
from backchannel.sdk import deal_hash
from channel import Server, pair

TRACK = "bench-deals"
QATAR = pair(2, "qatar/principal")
PRINCIPALS = (pair(3, "usa/principal"), pair(4, "iran/principal"), pair(5, "eu/principal"))


@dataclass(frozen=True, slots=True)
class Scale:
    """How many rounds each run does."""

    name: str
    sequential: int
    concurrent: int
    in_flight: int


FULL = Scale("full", sequential=500, concurrent=2_000, in_flight=8)
QUICK = Scale("quick", sequential=60, concurrent=200, in_flight=8)


def terms(deal_id: str) -> dict[str, JSONValue]:
    """A deal of one phase, two reciprocal steps, no agenda issue."""
    return {
        "id": deal_id,
        "title": f"benchmark deal {deal_id}",
        "phases": [
            [
                {
                    "party": "iran",
                    "action": "cap enrichment",
                    "issue": None,
                    "quantity": {"value": 3.67, "unit": "%"},
                    "conditions": [],
                },
                {
                    "party": "usa",
                    "action": "grant sanctions relief",
                    "issue": None,
                    "quantity": {"value": "tier-1", "unit": None},
                    "conditions": [],
                },
            ]
        ],
    }


def build_world(server: Server) -> None:
    """Open the track and admit the three delegations."""
    with server.client(QATAR) as qatar:
        qatar.execute(
            "open_track",
            {
                "title": "2PC benchmark",
                "principal_key": enrolment_key(QATAR),
                "service_key": {**server.info["service_key"], "expires_at": None},
            },
            track=TRACK,
        )
        for principal in PRINCIPALS:
            qatar.execute(
                "admit_party",
                {
                    "party": principal.name.split("/")[0],
                    "kind": "delegation",
                    "principal": principal.name,
                    "principal_key": enrolment_key(principal),
                },
                track=TRACK,
            )


class Actors:
    """One connection per member (a worker's own set)."""

    def __init__(self, server: Server) -> None:
        self.qatar = server.client(QATAR)
        self.voters = [server.client(keys) for keys in PRINCIPALS]

    def close(self) -> None:
        for client in (self.qatar, *self.voters):
            client.close()

    def round(self, deal_id: str) -> float:
        """One complete round; returns its duration in seconds."""
        began = time.perf_counter()
        deal = terms(deal_id)
        deadline = format_timestamp(datetime.now(UTC) + timedelta(hours=1))
        self.qatar.execute("prepare_deal", {"deal": deal, "deadline": deadline}, track=TRACK)
        signed_hash = deal_hash(deal)
        last: dict[str, object] = {}
        for voter in self.voters:
            body: dict[str, JSONValue] = {"deal_id": deal_id, "deal_hash": signed_hash, "vote": "yes"}
            last = voter.execute("vote_deal", body, track=TRACK)
        events = last["events"]
        assert isinstance(events, list)
        if [e["type"] for e in events] != ["deal.voted", "deal.committed"]:
            raise RuntimeError(f"round {deal_id} did not commit: {events}")
        return time.perf_counter() - began


def run_rounds(server: Server, rounds: int, in_flight: int, tag: str) -> tuple[float, list[float]]:
    """``rounds`` rounds with ``in_flight`` workers; (seconds, per-round durations)."""
    durations: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(rounds))

    def worker(number: int) -> None:
        actors = Actors(server)
        try:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                took = actors.round(f"{tag}-{number}-{index}")
                with lock:
                    durations.append(took)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)
        finally:
            actors.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(in_flight)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed, durations


def ms(seconds: float) -> str:
    """Seconds as milliseconds."""
    return f"{seconds * 1000:,.1f} ms"


def run(quick: bool) -> list[Row]:
    """Measure 2PC rounds per second through the HTTP service; print the figures; return the summary rows."""
    scale = QUICK if quick else FULL
    heading("2PC rounds through the HTTP service (prepare + 3 YES votes -> committed)")
    progress("starting backchannel serve for the 2PC benchmark")
    server = Server("deals")
    rows: list[Row] = []
    try:
        build_world(server)
        Actors(server).close()  # warm the imports and the connection path
        elapsed, durations = run_rounds(server, scale.sequential, 1, "seq")
        rate = scale.sequential / elapsed
        figure("rounds, one at a time", count(scale.sequential))
        figure("rounds/s, one at a time", f"{rate:,.1f}")
        figure("round latency p50", ms(statistics.median(durations)))
        figure("round latency p99", ms(sorted(durations)[max(0, round(0.99 * len(durations)) - 1)]))
        figure("commands/s (4 per round)", f"{4 * rate:,.0f}")
        rows.append(Row("2PC rounds/s over HTTP, 3 principals, one at a time", f"{rate:,.1f}", value=rate))
        progress(f"{scale.concurrent} rounds, {scale.in_flight} in flight")
        elapsed, durations = run_rounds(server, scale.concurrent, scale.in_flight, "par")
        rate = scale.concurrent / elapsed
        figure(f"rounds, {scale.in_flight} in flight", count(scale.concurrent))
        figure(f"rounds/s, {scale.in_flight} in flight", f"{rate:,.1f}")
        figure("round latency p50", ms(statistics.median(durations)))
        figure("commands/s (4 per round)", f"{4 * rate:,.0f}")
        rows.append(
            Row(
                f"2PC rounds/s over HTTP, 3 principals, {scale.in_flight} in flight",
                f"{rate:,.1f}",
                value=rate,
            )
        )
        note("every command is signed (Ed25519) by its member, verified twice by the service and fsynced")
    finally:
        server.stop()
    return rows


def main(argv: Sequence[str]) -> None:
    """Run the section alone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    report = Report()
    print_context("2PC benchmark", QUICK.name if args.quick else FULL.name)
    for row in run(args.quick):
        report.add(row)
    print_summary(report, "Summary")


if __name__ == "__main__":
    main(sys.argv[1:])
