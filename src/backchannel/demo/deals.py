"""The deals scene of the demo: one deal committed, one aborted by a NO, a commitment revealed.

:func:`play_deals` drives the SDK (``client.deals``) against a running server;
:func:`example_deal` and :func:`full_relief_deal` are the terms it uses (the
tests and ``backchannel deal`` examples use them too).

This module does not parse the command line (``backchannel deal`` does) and
does not start a server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from backchannel.cli.render import render_deal
from backchannel.log.canonical import JSONValue
from backchannel.sdk import BackchannelClient, CommitmentSecret, ProblemError

__all__ = ["example_deal", "full_relief_deal", "play_deals"]


def example_deal(deal_id: str = "doha-phase-1") -> dict[str, JSONValue]:
    """Phase 1: sanctions-relief tier 1 for an enrichment cap of 3.67 %; phase 2: assets for the stockpile.

    Its issues (``enrichment_cap_pct`` in %, ``sanctions_relief`` with option
    ``tier-1``) are those of the Doha agenda (and of ``testing.world.SMALL_AGENDA``).
    """
    return {
        "id": deal_id,
        "title": "Sanctions relief for an enrichment cap",
        "phases": [
            [
                {"party": "iran", "action": "cap uranium enrichment", "issue": "enrichment_cap_pct",
                 "quantity": {"value": 3.67, "unit": "%"}, "conditions": ["IAEA verification in place"]},
                {"party": "usa", "action": "grant sanctions relief", "issue": "sanctions_relief",
                 "quantity": {"value": "tier-1", "unit": None}, "conditions": []},
            ],
            [
                {"party": "usa", "action": "release frozen assets", "issue": None,
                 "quantity": {"value": 6, "unit": "USD bn"}, "conditions": [{"ref": "step:1.1"}]},
                {"party": "iran", "action": "ship out enriched uranium", "issue": None,
                 "quantity": {"value": 300, "unit": "kg"}, "conditions": [{"ref": "step:1.2"}]},
            ],
        ],
    }  # fmt: skip


def full_relief_deal(deal_id: str = "doha-full-relief") -> dict[str, JSONValue]:
    """Full sanctions relief for continuous monitoring (the deal the demo sees aborted by one NO)."""
    return {
        "id": deal_id,
        "title": "Full sanctions relief for continuous monitoring",
        "phases": [
            [
                {"party": "usa", "action": "lift all sanctions", "issue": "sanctions_relief",
                 "quantity": {"value": "full", "unit": None}, "conditions": []},
                {"party": "iran", "action": "accept continuous monitoring", "issue": None,
                 "quantity": {"value": True, "unit": None}, "conditions": []},
            ]
        ],
    }  # fmt: skip


def play_deals(
    console: Console,
    mediator: BackchannelClient,
    principals: Sequence[BackchannelClient],
    track: str,
    *,
    deadline: timedelta = timedelta(minutes=10),
    check: Callable[[str, bool, str], None] | None = None,
) -> dict[str, Any]:
    """The demo's deals and commitment, through the SDK (for ``cli/live.py``).

    1. The mediator prepares :func:`example_deal` (``doha-phase-1``); every
       principal reads it, checks the hash against the terms and votes YES; the
       last YES commits it in the same append. Its table is printed.
    2. The mediator prepares :func:`full_relief_deal`; the first principal votes
       YES and the last NO, which aborts it at once: every step is listed as a
       void compensation and nothing took effect. Its table is printed.
    3. The mediator publishes a commitment "next steps agreed" (a fresh salt)
       and reveals it; a reveal with the wrong content is refused first.

    Args:
        console: Where to print.
        mediator: The mediator principal's client.
        principals: Every delegation principal's client (each must vote).
        track: The track, with the agenda ratified (its issues are used).
        deadline: How long each vote stays open.
        check: Called as ``check(what, ok, detail)`` for each outcome (default: print it).

    Returns:
        ``{"committed": <view>, "aborted": <view>, "commitment": <CommitmentSecret>}``.
    """
    report = check or (lambda what, ok, detail: console.print(f"{'ok' if ok else 'FAILED'} {what} {detail}"))
    now = datetime.now(UTC)
    first = example_deal()
    mediator.deals.prepare(track, first, now + deadline)
    for client in principals:
        client.deals.vote(track, str(first["id"]), vote=True)
    committed = mediator.deals.get(track, str(first["id"]))
    console.print(render_deal(committed))
    report("deal doha-phase-1 committed by every principal's YES", committed["status"] == "committed", "")

    second = full_relief_deal()
    mediator.deals.prepare(track, second, now + deadline)
    *others, last = principals
    for client in others:
        client.deals.vote(track, str(second["id"]), vote=True)
    last.deals.vote(track, str(second["id"]), vote=False)
    aborted = mediator.deals.get(track, str(second["id"]))
    console.print(render_deal(aborted))
    void = len((aborted.get("outcome") or {}).get("compensations", []))
    report(
        f"deal {second['id']} aborted by {last.member}'s NO and rolled back",
        aborted["status"] == "aborted",
        f"({void} step(s) void)",
    )

    secret = mediator.deals.publish_commitment(
        track, "next steps agreed", "a second round in Muscat on 12 May"
    )
    console.print(
        f"commitment {secret.commitment_id[:12]} published: SHA-256(salt || content) = {secret.commitment}"
    )
    wrong = CommitmentSecret(
        secret.track, secret.commitment_id, secret.label, secret.salt, "a different text"
    )
    try:
        mediator.deals.reveal_commitment(wrong)
        refusal = "(it was accepted)"
    except ProblemError as e:
        refusal = "" if e.status == 422 and e.type.endswith("/commitment-mismatch") else str(e)
    report("a mismatched reveal is refused", not refusal, refusal)
    revealed = mediator.deals.reveal_commitment(secret)
    report("commitment revealed and verified", not revealed["replayed"], f"({secret.content!r})")
    return {"committed": committed, "aborted": aborted, "commitment": secret}
