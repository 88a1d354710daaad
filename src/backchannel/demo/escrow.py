"""The escrow scene of the Doha demo, as one function the live demo can call (ADR-0017).

:func:`escrow_scene` plays, through the SDK against a running server:

1. the mediator admits the inspectors ``iaea`` and ``euratom`` and defines
   ``iaea.enrichment_pct`` (unit %, quorum 2 of 2, tolerance 0.1, daily windows);
2. it opens the escrow ``frozen-assets``: USD 6 billion owned by ``usa`` for
   ``iran``, released by 2 of (usa, qatar) AND
   ``iaea.enrichment_pct <= 3.67 sustained for 30 days``, expiring in 180 days;
3. ``iran`` asks for the release at once: refused, with the progress
   (``0 of 2 signatures; predicate ... held 0 of 30 days``);
4. ``usa`` and ``qatar`` sign the escrow's digest (each SDK recomputes it);
5. both inspectors attest the 12 days before now (3.60 % and 3.62 %: quorum
   each day); the release is refused again (``2 of 2 signatures; ... held 12
   of 30 days``);
6. they attest the 18 days before those; the release succeeds, and the
   escrow is shown.

The server runs on the system clock, so the 30-day window is shown with
attestations *observed* on the 30 days before now (the log shows they were
filed now: back-filled, in one batch per inspector).

Every expectation is reported to ``check(party, what, ok, detail)``, the demo's
check list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from rich.console import Console

from backchannel.cli.escrow import escrow_table
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.wire import enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError

__all__ = ["ESCROW_ID", "METRIC", "PREDICATE", "escrow_scene"]

ESCROW_ID = "frozen-assets"
METRIC = "iaea.enrichment_pct"
PREDICATE = "iaea.enrichment_pct <= 3.67 sustained for 30 days"
Check = Callable[[str, str, bool, str], None]


def _refused(client: BackchannelClient, track: str) -> str:
    try:
        client.escrow.release(track, ESCROW_ID)
    except ProblemError as e:
        return str(e.problem.get("progress", ""))
    return ""


def escrow_scene(
    out: Console,
    track: str,
    clients: Mapping[str, BackchannelClient],
    check: Check,
    *,
    mediator: str = "qatar/principal",
    owner: str = "usa/principal",
    beneficiary: str = "iran/principal",
    inspectors: tuple[str, str] = ("iaea/principal", "euratom/principal"),
    issue: str | None = None,
) -> None:
    """Play the escrow scene (see the module docstring).

    Args:
        out: Where to print.
        track: The track (open, with the owner's and beneficiary's delegations admitted).
        clients: A client per member id: the mediator, owner, beneficiary and both
            inspectors' principals (the inspectors are admitted here).
        check: Called once per expectation with (party, what, ok, detail).
        mediator: The mediator's principal (its party co-signs).
        owner: The owner party's principal (its party co-signs).
        beneficiary: The beneficiary party's principal (it asks for the release).
        inspectors: The two inspectors' principals.
        issue: The agenda number issue the metric measures (its unit must be %), if any.
    """
    qatar, usa, iran = clients[mediator], clients[owner], clients[beneficiary]
    iaea, euratom = clients[inspectors[0]], clients[inspectors[1]]
    for inspector in (iaea, euratom):
        qatar.execute("admit_party", {
            "party": inspector.member.split("/")[0], "kind": "inspector", "principal": inspector.member,
            "principal_key": enrolment_key(inspector.keys),
        }, track=track)  # fmt: skip
    parties = [c.member.split("/")[0] for c in (iaea, euratom)]
    qatar.attestations.define_metric(
        track, METRIC, unit="%", inspectors=parties, quorum=2, tolerance=0.1, issue=issue
    )
    out.print(f"  metric {METRIC}: unit %, quorum 2 of ({', '.join(parties)}), tolerance 0.1, daily windows")
    signers = [usa.member.split("/")[0], qatar.member.split("/")[0]]
    terms: dict[str, JSONValue] = {
        "escrow_id": ESCROW_ID,
        "items": [{"what": "frozen assets", "amount": 6_000_000_000, "unit": "USD",
                   "owner": signers[0], "beneficiary": iran.member.split("/")[0]}],
        "signers": signers, "threshold": 2, "predicates": [PREDICATE],
        "expires_at": format_timestamp(qatar.clock.now() + timedelta(days=180)),
    }  # fmt: skip
    qatar.escrow.open(track, terms)
    condition = f"2 of ({', '.join(signers)}) AND {PREDICATE}"
    out.print(f"  escrow {ESCROW_ID}: USD 6,000,000,000 {signers[0]} -> iran; {condition}")

    early = _refused(iran, track)
    expected = f"0 of 2 signatures; predicate `{PREDICATE}` held 0 of 30 days"
    check(beneficiary, "an early release is refused with its progress", early == expected, early)
    usa.escrow.sign_release(track, ESCROW_ID)
    qatar.escrow.sign_release(track, ESCROW_ID)

    now = qatar.clock.now()
    for inspector, value in ((iaea, 3.60), (euratom, 3.62)):
        results = inspector.attestations.attest_daily(
            track, METRIC, [value] * 12, unit="%", site="natanz", end=now
        )
        check(inspector.member, "12 daily attestations filed", all(r["status"] == 201 for r in results), "")
    partway = _refused(iran, track)
    expected = f"2 of 2 signatures; predicate `{PREDICATE}` held 12 of 30 days"
    check(beneficiary, "after 12 attested days the release is still refused", partway == expected, partway)

    first = now - timedelta(days=12)
    for inspector, value in ((iaea, 3.61), (euratom, 3.60)):
        results = inspector.attestations.attest_daily(
            track, METRIC, [value] * 18, unit="%", site="natanz", end=first
        )
        check(
            inspector.member,
            "18 earlier daily attestations filed",
            all(r["status"] == 201 for r in results),
            "",
        )
    released = iran.escrow.release(track, ESCROW_ID)
    event = released["events"][0] if released["events"] else {}
    check(beneficiary, "released after 30 attested days and 2 of 2 signatures",
          event.get("type") == "escrow.released", str(event.get("reason", "")))  # fmt: skip
    shown = usa.escrow.get(track, ESCROW_ID)
    out.print(escrow_table(shown))
    check(owner, "the escrow shows as released", shown["status"] == "released", "")
