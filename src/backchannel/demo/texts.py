"""The negotiating-text scene of the Doha demo, as one function the live demo can call (ADR-0020).

:func:`text_scene` plays, through the SDK against a running server:

1. the mediator drafts ``framework`` v1 (policy ``mediator-only``, the default);
2. ``usa`` comments on v1, privately: the mediator reads it, ``iran`` does not;
3. the mediator revises it into v2 (a sunset clause), based on v1, and sets
   the policy to ``shared``;
4. ``iran`` edits v2 into v3 (an escrow article);
5. ``usa`` edits v2 too, a version that is no longer current: refused with 409
   ``stale-text-version`` naming the current version 3, and never merged
   (``usa`` reads v3, its digest checked);
6. the unified diff from v1 to v3 is printed.

Every expectation is reported to ``check(party, what, ok, detail)``, the demo's
check list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from rich.console import Console
from rich.text import Text

from backchannel.sdk import BackchannelClient, ProblemError

__all__ = ["DOC", "V1", "V2", "V3", "text_scene"]

DOC = "framework"
TITLE = "Framework for a nuclear agreement (Doha)"
V1 = (
    "Article 1. Iran caps uranium enrichment at 3.67%.\n"
    "Article 2. The United States grants sanctions relief, tier 1.\n"
)
V2 = (
    "Article 1. Iran caps uranium enrichment at 3.67% for 15 years.\n"
    "Article 2. The United States grants sanctions relief, tier 1.\n"
)
V3 = V2 + (
    "Article 3. USD 6 billion of frozen assets are released from escrow once the inspectors\n"
    "           attest the cap for 30 days.\n"
)
STALE = V2 + "Article 3. The IAEA keeps cameras at every enrichment site.\n"
COMMENT = "Add a sunset clause to Article 1."


class Check(Protocol):
    """The demo's check list: one call per expectation."""

    def __call__(self, party: str, what: str, ok: bool, detail: str) -> None:
        """Record whether ``party``'s expectation ``what`` held, with a detail."""


_DIFF_STYLE = {"+": "green", "-": "red", "@": "cyan"}


def _party(client: BackchannelClient) -> str:
    return client.member.split("/", maxsplit=1)[0]


def print_diff(out: Console, diff: str) -> None:
    """Print a unified diff, coloured like ``backchannel text diff``, never wrapped."""
    for line in diff.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else _DIFF_STYLE.get(line[:1], "")
        out.print(Text("    " + line, style=style), soft_wrap=True)


def text_scene(
    out: Console,
    track: str,
    clients: Mapping[str, BackchannelClient],
    check: Check,
    *,
    mediator: str = "qatar/principal",
    commenter: str = "usa/principal",
    editor: str = "iran/principal",
) -> None:
    """Play the text scene (see the module docstring).

    Args:
        out: Where to print.
        track: The track (open, with both delegations admitted; no text yet).
        clients: A client per member id: the mediator's, the commenter's and the editor's principals.
        check: Called once per expectation with (party, what, ok, detail).
        mediator: The mediator's principal (drafts, revises, sets the policy).
        commenter: The delegation principal that comments on v1 and sends the stale edit.
        editor: The other delegation principal, which edits under the shared policy.
    """
    qatar, usa, iran = clients[mediator], clients[commenter], clients[editor]
    qatar.texts.draft(track, DOC, V1, title=TITLE)
    out.print(f"  {qatar.member}: {DOC} v1 drafted ({TITLE!r}, policy mediator-only)", markup=False)
    usa.texts.comment(track, DOC, COMMENT, version=1)
    out.print(f"  {usa.member}: comments on v1, to the mediator only: {COMMENT!r}", markup=False)
    seen = [(c["by"], c["text"]) for c in qatar.texts.comments(track, DOC)]
    hidden = [c for c in iran.texts.comments(track, DOC) if c["by"] == usa.member]
    check(
        _party(qatar),
        f"reads {_party(usa)}'s private comment on v1; {_party(iran)} cannot",
        (usa.member, COMMENT) in seen and not hidden,
        f"{len(seen)} comment(s) for the mediator, {len(hidden)} of {_party(usa)}'s for {_party(iran)}",
    )

    qatar.texts.edit(track, DOC, V2, base_version=1)
    qatar.texts.set_policy(track, "shared")
    out.print(f"  {qatar.member}: v2 (based on v1) adds the sunset clause; policy now shared", markup=False)
    iran.texts.edit(track, DOC, V3, base_version=2)
    out.print(f"  {iran.member}: v3 (based on v2) adds the escrow article", markup=False)
    shown = qatar.texts.get(track, DOC)
    check(
        _party(iran),
        "edited v2 into v3 under the shared policy",
        (shown["version"], shown["base_version"], shown["by"], shown["text"]) == (3, 2, iran.member, V3),
        f"v{shown['version']} by {shown['by']}, based on v{shown['base_version']}",
    )

    try:
        usa.texts.edit(track, DOC, STALE, base_version=2)
    except ProblemError as e:
        current = e.problem.get("current")
        out.print(
            Text(f"  refused: {e.status} {e.problem.get('title', e.type)}: {e.problem.get('detail', '')}",
                 style="yellow"),
            soft_wrap=True,
        )  # fmt: skip
        check(
            _party(usa),
            f"a stale edit (based on v2) is refused with the current version ({current})",
            e.status == 409 and e.type.endswith("/stale-text-version") and current == 3,
            f"{e.status} {e.type.rsplit('/', 1)[-1]}, current {current}",
        )
    else:
        check(_party(usa), "a stale edit (based on v2) is refused", ok=False, detail="it was accepted")
    current_text = usa.texts.get(track, DOC)
    check(
        _party(usa),
        "reads v3, its digest checked: the refused edit was never merged",
        current_text["version"] == 3 and current_text["text"] == V3,
        f"sha256 {str(current_text['text_digest'])[:16]}…",
    )

    diff = usa.texts.diff(track, DOC, 1, 3)
    out.print(f"  {DOC}: diff v1 → v3", markup=False)
    print_diff(out, diff)
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    check(
        _party(usa),
        f"diff v1 → v3: {len(added)} line(s) added, {len(removed)} removed",
        any("for 15 years" in line for line in added) and any("Article 3" in line for line in added),
        "",
    )
