"""The obligation scene of the Doha demo, as one function the live demo can call (ADR-0018, ADR-0017).

:func:`obligation_scene` plays, through the SDK against a running server, with
the burst fed by *counted attestations*: two inspectors attest the same
measurement and the value their quorum counts meters the obligation (the
attestation seam of ADR-0018):

1. the mediator defines the metric ``iaea.stockpile_kg`` for the agenda issue
   ``stockpile_kg`` in ``t``: refused (422) with the field-level reason naming
   ``unit`` (the agenda issue is in kg), nothing logged; then in kg, with a
   quorum of 2 of (``iaea``, ``euratom``) agreeing within 0.5 kg;
2. it defines the obligation ``iran-stockpile`` on that metric: ``iran`` may add
   10 kg a second with a burst of 20 kg; the ladder is none ->
   sanctions-tier-1 -> -2 -> -3; a step down needs 3 s within limits and the
   bucket back at 50 % of the burst; shared with ``usa``;
3. both inspectors attest 5 kg added at Natanz: the quorum counts 5 kg, which is
   metered within limits;
4. both attest 30 kg added at Fordow: the quorum counts 30 kg, a burst that
   overdraws the bucket and escalates one tier (``obligation.escalated`` to
   level 1, ``sanctions-tier-1``); ``usa`` reads the escalation and proves its
   inclusion in the log;
5. the server's ticker steps it down to level 0 once the hold has passed
   (polled for up to ``poll_timeout`` s), and the ladder timeline is printed.

Each pair of attestations names one observation time, so both fall in the same
daily window whatever the clock says.

Every expectation is reported to ``check(party, what, ok, detail)``, the demo's
check list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from backchannel.cli.obligations import timeline_table
from backchannel.errors import BackchannelError
from backchannel.log.canonical import JSONValue
from backchannel.sdk import BackchannelClient, ProblemError

__all__ = ["METRIC", "OBLIGATION", "TERMS", "obligation_scene"]

METRIC = "iaea.stockpile_kg"
ISSUE = "stockpile_kg"
OBLIGATION = "iran-stockpile"
LADDER = ("none", "sanctions-tier-1", "sanctions-tier-2", "sanctions-tier-3")
TERMS: dict[str, JSONValue] = {
    "obligation": OBLIGATION,
    "party": "iran",
    "metric": METRIC,
    "unit": "kg",
    "rate": 10,
    "burst": 20,
    "period_seconds": 1,
    "ladder": list(LADDER),
    "hold_seconds": 3,
    "recovery_pct": 50,
    "shared_with": ["usa"],
}


class Check(Protocol):
    """The demo's check list: one call per expectation."""

    def __call__(self, party: str, what: str, ok: bool, detail: str) -> None:
        """Record whether ``party``'s expectation ``what`` held, with a detail."""


def _party(client: BackchannelClient) -> str:
    return client.member.split("/", maxsplit=1)[0]


def _event(result: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((e for e in result["events"] if e.get("type") == kind), None)


def _counted(
    out: Console,
    track: str,
    inspectors: tuple[BackchannelClient, BackchannelClient],
    values: tuple[float, float],
    site: str,
) -> dict[str, Any]:
    """Both inspectors attest one observation at ``site``; the second filing reaches the quorum."""
    observed = inspectors[0].clock.now()
    for inspector, value in zip(inspectors, values, strict=True):
        result = inspector.attestations.attest(
            track, METRIC, value, unit="kg", site=site, observed_at=observed
        )
        logged = ", ".join(str(e.get("type")) for e in result["events"])
        out.print(f"  {inspector.member}: {value:g} kg at {site} → {logged}", markup=False, soft_wrap=True)
    metered = _event(result, "obligation.metered") or {}
    quorum = _event(result, "attestation.quorum_reached") or {}
    overdraw = "" if metered.get("overdraw") in {None, "0"} else f", overdraw {metered['overdraw']} kg"
    out.print(
        f"  quorum counts {quorum.get('value')} kg: tokens {metered.get('available')} -> "
        f"{metered.get('tokens')} kg{overdraw}; level {metered.get('level')} ({metered.get('tier')})",
        markup=False,
        soft_wrap=True,
    )
    return result


def _refused_unit(out: Console, call: Callable[[], object]) -> tuple[bool, str]:
    try:
        call()
    except ProblemError as e:
        violations = e.problem.get("violations") or []
        reasons = "; ".join(str(v.get("message")) for v in violations)
        title = e.problem.get("title", e.type)
        out.print(Text(f"  refused: {e.status} {title}: {reasons}", style="yellow"), soft_wrap=True)
        return e.status == 422 and [v.get("field") for v in violations] == ["unit"], reasons
    return False, "it was accepted"


def obligation_scene(
    out: Console,
    track: str,
    clients: Mapping[str, BackchannelClient],
    check: Check,
    *,
    mediator: str = "qatar/principal",
    inspectors: tuple[str, str] = ("iaea/principal", "euratom/principal"),
    reader: str = "usa/principal",
    cosign: Callable[[], object] = lambda: None,
    poll_timeout: float = 15.0,
) -> dict[str, Any]:
    """Play the obligation scene (see the module docstring).

    Args:
        out: Where to print.
        track: The track: its ratified agenda has the number issue ``stockpile_kg``
            in kg, ``iran`` and ``usa`` are delegations and both inspectors are admitted.
        clients: A client per member id: the mediator's, both inspectors' and the reader's.
        check: Called once per expectation with (party, what, ok, detail).
        mediator: The mediator's principal (defines the metric and the obligation).
        inspectors: The two inspectors' principals (they attest).
        reader: A member of a party the obligation is shared with (reads the escalation).
        cosign: Called once the escalation is logged, before ``reader`` proves its
            inclusion (a witness cosigning the checkpoint, for clients that require one).
        poll_timeout: How long to wait for the server's ticker to step the level down.

    Returns:
        The obligation as the mediator reads it at the end (``GET .../obligations/{id}``).
    """
    qatar, usa = clients[mediator], clients[reader]
    panel = (clients[inspectors[0]], clients[inspectors[1]])
    parties = [_party(c) for c in panel]

    def define_metric(unit: str) -> object:
        return qatar.attestations.define_metric(
            track, METRIC, unit=unit, inspectors=parties, quorum=2, tolerance=0.5, issue=ISSUE
        )

    ok, reasons = _refused_unit(out, lambda: define_metric("t"))
    check(_party(qatar), f"a metric in t for the agenda's {ISSUE} (kg) is refused, naming unit", ok, reasons)
    define_metric("kg")
    out.print(f"  metric {METRIC}: unit kg (agenda issue {ISSUE}), quorum 2 of ({', '.join(parties)}) "
              "within 0.5 kg, daily windows", markup=False, soft_wrap=True)  # fmt: skip
    qatar.obligations.define(track, TERMS)
    out.print(
        f"  obligation {OBLIGATION} on {METRIC}: iran, 10 kg per 1 s, burst 20 kg; "
        f"ladder {' -> '.join(LADDER)}; hold 3 s, recovery at 50 % of the burst; shared with usa",
        markup=False,
        soft_wrap=True,
    )
    out.print(f"  attested consumption: the value a quorum of ({', '.join(parties)}) counts meters it",
              markup=False, soft_wrap=True)  # fmt: skip

    within = _counted(out, track, panel, (5, 5.1), "natanz")
    metered = _event(within, "obligation.metered") or {}
    check(
        _party(panel[1]),
        "5 kg attested by both inspectors: counted and metered within limits, level 0 (none)",
        _event(within, "attestation.quorum_reached") is not None
        and metered.get("level") == 0
        and _event(within, "obligation.escalated") is None,
        f"tokens {metered.get('tokens')} kg",
    )

    burst = _counted(out, track, panel, (30, 30.2), "fordow")
    burst_at = time.monotonic()
    escalated = _event(burst, "obligation.escalated")
    check(
        _party(panel[1]),
        "a 30 kg burst attested by both escalates one tier: level 0 -> 1 (sanctions-tier-1)",
        escalated is not None
        and (escalated.get("from_level"), escalated.get("to_level"), escalated.get("tier"))
        == (0, 1, "sanctions-tier-1"),
        "" if escalated is None else f"overdraw {escalated.get('overdraw')} kg",
    )

    cosign()
    entries = [e for e in usa.log.events(track) if e["signed"]["event"]["type"] == "obligation.escalated"]
    proved = ""
    try:
        if not entries:
            raise BackchannelError("no obligation.escalated entry is visible")
        usa.log.verify_inclusion(track, entries[-1]["index"], entries[-1]["leaf_hash"])
    except BackchannelError as e:
        proved = str(e)
    view = usa.obligations.get(track, OBLIGATION)
    check(
        _party(usa),
        f"reads the escalation (shared with it): level {view['level']} ({view['tier']}), inclusion proved",
        not proved and view["level"] == 1,
        proved or f"obligation.escalated at index {entries[-1]['index']}",
    )

    out.print(f"  waiting for the server's ticker to step it down (hold {TERMS['hold_seconds']} s)…",
              style="dim", markup=False)  # fmt: skip
    deadline = time.monotonic() + poll_timeout
    view = qatar.obligations.get(track, OBLIGATION)
    while view["level"] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        view = qatar.obligations.get(track, OBLIGATION)
    waited = time.monotonic() - burst_at
    down = [s for s in view["history"] if s["direction"] == "down"]
    check(
        _party(qatar),
        "the ticker steps it down to level 0 (none) after the hold within limits",
        view["level"] == 0 and len(down) == 1,
        f"{waited:.1f} s after the burst" + ("" if view["level"] == 0 else f", still level {view['level']}"),
    )
    out.print(timeline_table(view))
    steps = [f"{s['direction']} {s['from_level']} -> {s['to_level']}" for s in view["history"]]
    counted = (_event(burst, "attestation.quorum_reached") or {}).get("attestations") or []
    source = str(view["history"][0]["source"]) if view["history"] else ""
    check(
        _party(qatar),
        "the obligation timeline: defined, up 0 -> 1 (caused by a counted attestation), down 1 -> 0",
        steps == ["up 0 -> 1", "down 1 -> 0"] and source in counted,
        f"{', '.join(steps)}; the step up's source {source[:12]} is an attestation the quorum counted",
    )
    return view
