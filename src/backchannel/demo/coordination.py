"""The coordination scene of the Doha demo (issue #12, ADR-0027, ADR-0028), as one function.

:func:`coordination_scene` plays, through the SDK against a running server:

1. qatar opens a second track, ``israel-hezbollah-ceasefire`` (with usa,
   whose principal is shared with the Iran track, and iran as the outside
   guarantors of this demo), and its coordination log ``coord-qatar``;
2. the Iran track depends on the ceasefire deal committing: it shows as
   blocked, with the reason;
3. usa's principal (attention budget 1) is booked for the Iran session; the
   ceasefire meeting collides with it: refused naming the holder, then queued;
4. the queue closes a cycle: the deadlock is detected and named, with the
   suggested resolutions;
5. qatar phases the dependency (only the Iran track's phase 2 waits on the
   ceasefire now): the deadlock is resolved;
6. the ceasefire deal commits; the service records the fact (track, index,
   event type only) and the Iran track is unblocked.

Every expectation is reported to ``check(party, what, ok, detail)``. This
module does not start a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from backchannel.cli.coordination import status_view
from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError, deal_hash

__all__ = ["CEASEFIRE", "COORD", "coordination_scene"]

CEASEFIRE = "israel-hezbollah-ceasefire"
COORD = "coord-qatar"
PERSON = "person:usa/principal"
_DEAL: dict[str, JSONValue] = {
    "id": "ceasefire-1",
    "title": "Ceasefire monitoring",
    "phases": [[{"party": "usa", "action": "fund the monitoring mission", "issue": None,
                 "quantity": {"value": 1, "unit": "mission"}, "conditions": []},
                {"party": "iran", "action": "press its allies to hold fire", "issue": None,
                 "quantity": {"value": 30, "unit": "days"}, "conditions": []}]],
}  # fmt: skip


class Check(Protocol):
    """The demo's check list: one call per expectation."""

    def __call__(self, party: str, what: str, ok: bool, detail: str) -> None:
        """Record whether ``party``'s expectation ``what`` held, with a detail."""


def _open(
    qatar: BackchannelClient, track: str, title: str, delegations: tuple[BackchannelClient, ...]
) -> None:
    service_key = qatar.service_info()["service_key"]
    body: dict[str, JSONValue] = {
        "title": title,
        "principal_key": enrolment_key(qatar.keys),
        "service_key": {**service_key, "expires_at": None},
    }
    qatar.execute("open_track", body, track=track)
    for principal in delegations:
        admit: dict[str, JSONValue] = {
            "party": principal.keys.name.split("/")[0],
            "kind": "delegation",
            "principal": principal.keys.name,
            "principal_key": enrolment_key(principal.keys),
        }
        qatar.execute("admit_party", admit, track=track)


def coordination_scene(
    out: Console,
    track: str,
    clients: Mapping[str, BackchannelClient],
    check: Check,
    *,
    mediator: str = "qatar/principal",
    shared: str = "usa/principal",
    guarantor: str = "iran/principal",
) -> dict[str, Any]:
    """Play the scene for the Iran track ``track`` (see the module docstring); return the last status."""
    qatar, usa, iran = clients[mediator], clients[shared], clients[guarantor]
    _open(qatar, CEASEFIRE, "Israel-Hezbollah ceasefire", (usa, iran))
    _open(qatar, COORD, "qatar's coordination log", ())
    coord = qatar.coordination
    coord.declare_dependency(COORD, "iran-needs-ceasefire", waiter=track, on_track=CEASEFIRE,
                             kind="deal_committed", ref="ceasefire-1")  # fmt: skip
    blocked = coord.status(COORD)["blocked"]
    check("qatar", f"{track} shows as blocked, with the reason", [b["track"] for b in blocked] == [track],
          "; ".join(r for b in blocked for r in b["reasons"]))  # fmt: skip
    coord.register_resource(COORD, PERSON, "person", capacity=1)
    at = qatar.clock.now().replace(microsecond=0) + timedelta(days=1)
    start, end = at + timedelta(hours=1), at + timedelta(hours=2)
    coord.book(
        COORD,
        "iran-session",
        resource=PERSON,
        holder=track,
        start=at,
        end=at + timedelta(hours=3),
        priority=2,
    )
    try:
        coord.book(
            COORD, "ceasefire-meeting", resource=PERSON, holder=CEASEFIRE, priority=5, start=start, end=end
        )
        check("qatar", "the colliding ceasefire meeting is refused", ok=False, detail="it was accepted")
    except ProblemError as e:
        detail = str(e.problem.get("detail", ""))
        check(
            "qatar",
            "the colliding ceasefire meeting is refused, naming the holder",
            f"held by {track}" in detail,
            detail,
        )
    queued = coord.book(
        COORD,
        "ceasefire-meeting",
        resource=PERSON,
        holder=CEASEFIRE,
        priority=5,
        queue=True,
        start=start,
        end=end,
    )
    cycles = [e["cycle"] for e in queued["events"] if e["type"] == "coordination.deadlock_detected"]
    check(
        "qatar",
        "queued, it closes a cycle: the deadlock is detected and named",
        len(cycles) == 1,
        "; ".join(cycles),
    )
    out.print(status_view(coord.status(COORD)))
    phased = coord.withdraw_dependency(
        COORD, "iran-needs-ceasefire", "phased: phase 1 proceeds without the ceasefire"
    )
    coord.declare_dependency(
        COORD,
        "phase-2-needs-ceasefire",
        waiter=f"{track}#phase-2",
        on_track=CEASEFIRE,
        kind="deal_committed",
        ref="ceasefire-1",
    )
    resolved = [e for e in phased["events"] if e["type"] == "coordination.deadlock_resolved"]
    check(
        "qatar",
        "phasing resolves the deadlock",
        len(resolved) == 1 and not coord.status(COORD)["deadlocks"],
        "",
    )
    deadline = qatar.clock.now() + timedelta(minutes=10)
    qatar.deals.prepare(CEASEFIRE, _DEAL, deadline)
    for voter in (usa, iran):
        voter.deals.vote(CEASEFIRE, "ceasefire-1", vote=True, deal_hash=deal_hash(_DEAL))
    status = coord.status(COORD)
    met = [d for d in status["dependencies"] if d["status"] == "met"]
    facts = [
        f"{m['evidence']['event_type']} at {m['evidence']['track']}#{m['evidence']['log_index']}" for m in met
    ]
    unblocked = not status["blocked"] and len(met) == 1
    check("qatar", f"the ceasefire deal commits and {track} is unblocked", unblocked, "; ".join(facts))
    out.print(Text(f"{track}: unblocked ({'; '.join(facts)})", style="green"))
    return status
