"""The live Doha demo: a real ``backchannel serve`` driven through the HTTP API with real keys.

:func:`run_live_demo` starts ``backchannel serve`` in a subprocess on 127.0.0.1
(a free port, a fresh data directory ``<data_dir>/server``, a short ``flash``
acknowledgement deadline), writes one 0600 key file per member under
``<data_dir>/keys`` and plays track ``us-iran-nuclear`` with one
:class:`~backchannel.sdk.client.BackchannelClient` per member. Every client
requires 1 witness cosignature (``norway/principal``'s) before it trusts a
checkpoint; the witness (:class:`~backchannel.sdk.witness.Witness`, state in
``<data_dir>/witness``) cosigns the latest checkpoint after every step and
before any party proves an entry's inclusion.

1. ``qatar`` opens the track and admits ``usa`` and ``iran`` (a principal each)
   and the witness ``norway``; each delegation principal enrols a delegate.
2. ``qatar`` proposes the agenda (enrichment cap %, stockpile kg, sanctions-relief
   tier, inspection regime); both principals ratify it.
3. A round: ``usa`` proposes, with an annex sealed to every member of ``iran``,
   and ``qatar`` relays it verbatim to ``iran``; ``qatar`` fetches the annex but
   cannot open it, ``iran`` opens it. ``iran`` counter-proposes, ``qatar``
   reframes it for ``usa``. Each recipient checks the delivery (leaf hash,
   inclusion proof, the author's signature) and receipts it.
4. A malformed proposal is refused with its field-level reasons.
5. ``iran`` goes offline; a ``flash`` message is relayed to it, its deadline
   lapses and the service escalates (``message.escalated``, for real, by the
   server's ticker), alerting iran's alternate and the mediator in one event.
   ``iran`` reconnects, catches up over Server-Sent Events resuming from the
   last index it saw, verifies and receipts everything, and answers; ``qatar``
   relays the answer verbatim to ``usa``; iran's alternate reads the
   escalation that names it.
6. The negotiating text (:mod:`backchannel.demo.texts`): ``qatar`` drafts
   ``framework``, ``usa`` comments privately, ``qatar`` revises it and shares
   the pen, ``iran`` edits v2 into v3, and ``usa``'s edit of v2 is refused
   (409, current version 3); the diff v1 → v3 is printed.
7. Staged deals (:func:`backchannel.demo.deals.play_deals`): phase 1 (sanctions
   relief tier 1 for an enrichment cap of 3.67 %) is prepared, voted YES by
   both principals and committed; a second deal is aborted by ``iran``'s NO and
   rolled back (its compensations shown); a commitment is published, a
   mismatched reveal refused, and revealed.
8. Escrow (:func:`backchannel.demo.escrow.escrow_scene`): the inspectors
   ``iaea`` and ``euratom`` are admitted; USD 6 billion of frozen assets are
   released to ``iran`` only once 2 of (usa, qatar) signed and the inspectors'
   quorum attests ``iaea.enrichment_pct <= 3.67`` for 30 days (back-filled);
   the early releases are refused with their progress.
9. An obligation (:mod:`backchannel.demo.obligations`): ``iran-stockpile``
   meters ``iaea.stockpile_kg``; both inspectors attest 5 kg (counted, within
   limits), then a 30 kg burst whose counted value escalates it one tier;
   ``usa`` reads the escalation; the server's ticker steps it down after the
   3 s hold and the ladder timeline is printed.
10. The ticker's step down is logged but not yet cosigned: each party still
    trusts only the last cosigned checkpoint, until ``norway`` cosigns.
11. Every message is receipted, each at the log index that delivered it; each
    party fetches the proof of receipt of each of its own delivered messages
    and verifies it (the recipient's signed receipt, its digest, the delivery
    index, inclusion in the checkpoint). Then each party's transcript, its
    verification (its own entries' inclusion proofs, checkpoint consistency
    from its first checkpoint to its last, the witness's cosignature on its
    last), the count of checkpoints ``norway`` cosigned, the table of checks
    and the final signed checkpoint (the log's line and norway's) are printed.
12. Multi-track coordination (:mod:`backchannel.demo.coordination`): the track
    waits on an ``israel-hezbollah-ceasefire`` deal, a meeting collides with a
    booking of usa's principal, the deadlock is named, phasing resolves it, and
    the ceasefire deal's commit unblocks the track.

The server is always stopped by PID (SIGTERM, then SIGKILL after a timeout),
unless ``serve`` is set, in which case it runs until Ctrl-C first.
"""

from __future__ import annotations

import itertools
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from backchannel.cli import render
from backchannel.cli.render import by as _by
from backchannel.cli.render import inner as _inner
from backchannel.cli.render import short as _short
from backchannel.demo.console import print_console_link
from backchannel.demo.coordination import coordination_scene
from backchannel.demo.deals import play_deals
from backchannel.demo.escrow import escrow_scene
from backchannel.demo.obligations import obligation_scene
from backchannel.demo.server import ServerProcess
from backchannel.demo.server import server as server_for
from backchannel.demo.stage import MEMBERS, TRACK, WITNESS, Stage, print_checks
from backchannel.demo.stage import ranges as _ranges
from backchannel.demo.texts import text_scene
from backchannel.demo.transcript import transcript
from backchannel.domain import Agenda
from backchannel.domain.agenda import ChoiceIssue, NumberIssue
from backchannel.errors import BackchannelError, NotFoundError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError

__all__ = ["TRACK", "ServerProcess", "run_live_demo"]

PARTIES = ("qatar", "usa", "iran")
AGENDA = Agenda(
    1,
    (
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        NumberIssue("stockpile_kg", "kg", 0, 10_000, 0.1),
        ChoiceIssue("sanctions_relief", ("none", "tier-1", "tier-2", "full")),
        ChoiceIssue("inspection_regime", ("iaea-standard", "additional-protocol", "continuous-monitoring")),
    ),
)
ANNEX = b"Annex A (for Iran only): the proposed cascade-by-cascade centrifuge inventory.\n"


# --- the scenario --------------------------------------------------------------------------------
class _Scenario(Stage):
    """The scripted talks; every step goes through the HTTP API."""

    # --- the script -------------------------------------------------------
    def setup(self, service_key: Mapping[str, Any]) -> None:
        self.step("1. qatar opens the track; usa and iran are admitted and enrol delegates; norway witnesses",
                  cosign=False)  # fmt: skip
        qatar = self.members["qatar/principal"].keys
        self.exec("qatar/principal", "open_track", {
            "title": "US-Iran nuclear talks (Doha)", "principal_key": enrolment_key(qatar),
            "service_key": {**service_key, "expires_at": None},
        })  # fmt: skip
        for party in ("usa", "iran"):
            principal = self.members[f"{party}/principal"].keys
            self.exec("qatar/principal", "admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name,
                "principal_key": enrolment_key(principal),
            })  # fmt: skip
        self.exec("qatar/principal", "admit_party", {
            "party": WITNESS.split("/", maxsplit=1)[0], "kind": "witness", "principal": WITNESS,
            "principal_key": enrolment_key(self.witness.client.keys),
        })  # fmt: skip
        for party in ("usa", "iran"):
            delegate = self.members[f"{party}/delegate"].keys
            self.exec(f"{party}/principal", "enroll_member", {
                "new_member": delegate.name, "role": "delegate", "new_key": enrolment_key(delegate),
            })  # fmt: skip
        self.say(f"{WITNESS} (a witness) cosigns every checkpoint: {self.witness.vkey}", "magenta")
        self.say("every member's client trusts a checkpoint only with 1 witness cosignature", "magenta")
        self.cosign()
        for name in MEMBERS:
            member = self.members[name]
            member.first_size = member.client.log.checkpoint(TRACK).size
            member.first_note = member.client.log.latest_checkpoint(TRACK)
            member.client.inbox.heartbeat(TRACK)
            self.say(f"{name}: first checkpoint verified (size {member.first_size})", "dim")

    def agenda(self) -> None:
        self.step("2. the agenda is proposed by qatar and ratified by both principals")
        self.exec("qatar/principal", "propose_agenda", {"agenda": AGENDA.to_dict()})
        digest = agenda_digest(AGENDA).hex()
        for party in ("usa", "iran"):
            self.exec(f"{party}/principal", "ratify_agenda", {"version": 1, "agenda_digest": digest})
        self.say("agenda v1: " + ", ".join(issue.name for issue in AGENDA.issues))

    def round(self) -> None:
        self.step("3. a round: a proposal with a sealed annex relayed verbatim, a counter-proposal reframed")
        usa_offer: dict[str, JSONValue] = {
            "values": {"enrichment_cap_pct": 3.67, "stockpile_kg": 300, "sanctions_relief": "tier-1",
                       "inspection_regime": "additional-protocol"},
            "note": "Our opening position; the inventory is in the sealed annex.",
        }  # fmt: skip
        sealed = self.c("usa/delegate").annexes.upload_sealed(TRACK, ANNEX, party="iran")
        for member, digest in sealed.items():
            self.say(f"usa/delegate: annex sealed to {member} uploaded as {_short(digest)}", "dim")
        proposal = self.submit("usa/delegate", "proposal", usa_offer, annexes=list(sealed.values()))
        self.mediator_takes(proposal)
        self.exec("qatar/principal", "forward_message", {"message_id": proposal, "to_parties": ["iran"]})
        deliveries = self.c("iran/delegate").inbox.poll(TRACK, timeout=10)
        self.receive("iran/delegate", deliveries)
        self.sealed_annex(deliveries, list(sealed.values()))

        iran_offer: dict[str, JSONValue] = {
            "values": {"enrichment_cap_pct": 20, "stockpile_kg": 2000, "sanctions_relief": "full",
                       "inspection_regime": "iaea-standard"},
            "note": "Relief first; the cap follows.",
        }  # fmt: skip
        counter = self.submit("iran/delegate", "counter_proposal", iran_offer, in_reply_to=proposal)
        self.mediator_takes(counter)
        reframed: dict[str, JSONValue] = {
            "values": {"enrichment_cap_pct": 5, "stockpile_kg": 1000, "sanctions_relief": "tier-2",
                       "inspection_regime": "iaea-standard"},
            "note": "Iran can move on the cap if relief is phased in early.",
        }  # fmt: skip
        self.exec("qatar/principal", "reframe_message", {
            "message_id": counter, "to_parties": ["usa"], "body": reframed, "annexes": [],
            "agenda_version": 1,
        })  # fmt: skip
        self.receive("usa/delegate", self.c("usa/delegate").inbox.poll(TRACK, timeout=10))

    def sealed_annex(self, deliveries: list[dict[str, Any]], sent: list[str]) -> None:
        """The mediator relayed the annex but cannot read it; the recipient opens the copy sealed to it."""
        qatar = self.c("qatar/principal")
        relayed = [qatar.annexes.fetch(TRACK, digest) for digest in sent]
        try:
            qatar.annexes.open_own(TRACK, sent)
        except (NotFoundError, VerificationError) as e:
            attempts = [str(e)]
            for digest in sent:  # and by brute force, each blob with qatar's own key
                try:
                    qatar.annexes.open(TRACK, digest)
                    attempts.append(f"{_short(digest)} opened")
                except VerificationError as refused:
                    attempts.append(f"{_short(digest)}: {refused}")
            unreadable = all("opened" not in a for a in attempts) and all(ANNEX not in b for b in relayed)
            self.check("qatar", "relayed the sealed annex but cannot open it", unreadable, attempts[-1])
        else:
            self.check(
                "qatar", "relayed the sealed annex but cannot open it", ok=False, detail="qatar opened it"
            )
        originals = [d["original"] for d in deliveries if d.get("original") is not None]
        named = [str(a) for o in originals for a in o["payload"]["body"]["annexes"]]
        try:
            opened = self.c("iran/delegate").annexes.open_own(TRACK, named)
        except BackchannelError as e:
            self.check("iran", "opened the annex sealed to it", ok=False, detail=str(e))
        else:
            self.say(f"iran/delegate reads: {opened.decode().strip()}", "magenta")
            self.check(
                "iran",
                f"opened the annex sealed to it ({len(opened)} bytes, named in usa's signed command)",
                opened == ANNEX,
            )

    def malformed(self) -> None:
        self.step("4. a malformed proposal is refused")
        bad: dict[str, JSONValue] = {"values": {"enrichment_cap_pct": 120, "sanctions_relief": "everything"}}
        try:
            self.submit("usa/delegate", "proposal", bad)
        except ProblemError as e:
            violations = e.problem.get("violations") or []
            self.say(f"refused: {e.status} {e.problem.get('title', e.type)}", "yellow")
            for v in violations:
                self.say(f"  {v.get('message')} [{v.get('field')}: {v.get('rule')}]", "yellow")
            fields = [str(v.get("field")) for v in violations]
            self.check(
                "usa",
                "malformed proposal refused with its field-level reason",
                e.status == 422 and any("enrichment_cap_pct" in f for f in fields),
                "; ".join(str(v.get("message")) for v in violations) or str(e),
            )
        else:
            self.check(
                "usa",
                "malformed proposal refused with its field-level reason",
                ok=False,
                detail="it was accepted",
            )

    def offline_and_flash(self, flash_deadline: float) -> None:
        self.step("5. iran goes offline; a flash message escalates; iran catches up")
        self.say("iran stops heartbeating and polling", "magenta")
        flash = self.submit(
            "usa/delegate",
            "statement",
            {"text": "Incident reported at Natanz: confirm this channel within minutes."},
            priority="flash",
        )
        self.mediator_takes(flash)
        self.exec("qatar/principal", "forward_message", {"message_id": flash, "to_parties": ["iran"]})
        routine = self.submit("usa/delegate", "question", {"text": "Can the stockpile be shipped out?"})
        self.mediator_takes(routine)
        self.exec("qatar/principal", "forward_message", {"message_id": routine, "to_parties": ["iran"]})
        self.say(f"waiting for the flash deadline ({flash_deadline:g} s) to lapse…", "dim")
        escalation = self._await_escalation("qatar/principal", flash, timeout=flash_deadline + 20)
        alerted = [str(m) for m in (escalation or {}).get("to") or []]
        self.check(
            "qatar",
            f"flash {_short(flash)} escalated when its deadline lapsed",
            escalation is not None and {"iran/delegate", "qatar/principal"} <= set(alerted),
            "" if escalation is None else f"level {escalation.get('level')} → {', '.join(alerted)}",
        )
        presence = {p["party"]: p for p in self.c("qatar/principal").inbox.presence(TRACK)}
        self.say(f"qatar sees iran as {presence.get('iran', {}).get('status')}", "magenta")

        self.say("iran reconnects and resumes the stream after the last index it saw", "magenta")
        iran = self.members["iran/delegate"]
        iran.client.inbox.heartbeat(TRACK)
        resume_from = iran.last_seen
        caught = list(iran.client.inbox.stream(TRACK, last_event_id=resume_from, timeout=1.0))
        ids = {d["message_id"] for d in caught}
        self.receive("iran/delegate", caught)
        self.check(
            "iran",
            f"caught up after reconnecting: {len(caught)} message(s) streamed after index {resume_from}",
            {flash, routine} <= ids,
        )
        seen = self._await_escalation("iran/delegate", flash, timeout=5)
        self.check(
            "iran",
            "iran/delegate, an alerted alternate, reads the escalation that names it",
            seen is not None and "iran/delegate" in (seen.get("to") or []),
        )
        answer = self.submit(
            "iran/delegate",
            "answer",
            {"text": "Confirmed. Shipping out is on the table."},
            in_reply_to=routine,
        )
        self.mediator_takes(answer)
        self.exec("qatar/principal", "forward_message", {"message_id": answer, "to_parties": ["usa"]})
        self.receive("usa/delegate", self.c("usa/delegate").inbox.poll(TRACK, timeout=10))

    def _await_escalation(self, reader: str, message_id: str, timeout: float) -> Mapping[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.c(reader).log.events(TRACK):
                if item["signed"]["event"]["type"] == "message.escalated":
                    body = _inner(item)
                    if body.get("message_id") == message_id:
                        return body
            time.sleep(0.25)
        return None

    # --- the agreements (issue #4) ------------------------------------------
    def negotiating_text(self) -> None:
        self.step("6. the negotiating text: drafted, commented, revised; a stale edit is refused")
        text_scene(self.out, TRACK, self._clients(), self._party_check)

    def deals(self) -> None:
        self.step("7. staged deals: one committed, one aborted by a NO and rolled back; a commitment")
        qatar = self.c("qatar/principal")
        principals = [self.c("usa/principal"), self.c("iran/principal")]
        play_deals(self.out, qatar, principals, TRACK, check=lambda what, ok, detail: self.check(
            "qatar", what, ok, detail.strip("()")))  # fmt: skip

    def escrow(self) -> None:
        self.step("8. USD 6 billion of frozen assets in escrow, released on the inspectors' attestations")
        escrow_scene(self.out, TRACK, self._clients(), self._party_check, issue="enrichment_cap_pct")

    def obligation(self) -> None:
        self.step("9. an obligation: an attested burst escalates one tier, a recovery steps it down")
        obligation_scene(self.out, TRACK, self._clients(), self._party_check, cosign=self.cosign)

    def witnessed(self) -> None:
        """The ticker's step down is logged but not cosigned yet: no client trusts it until norway cosigns."""
        self.step("10. a checkpoint is trusted only once the witness has cosigned it", cosign=False)
        latest = self.witness.client.log.fetch_checkpoint(TRACK)
        cosigned = self.cosigned[-1] if self.cosigned else 0
        self.say(f"the service's latest checkpoint: size {latest.checkpoint.size}, "
                 f"last cosigned by {WITNESS}: size {cosigned}", "magenta")  # fmt: skip
        for party in PARTIES:
            client = self.c(f"{party}/principal")
            missing = not client.witnesses.check(latest).satisfied
            try:
                trusted = client.log.checkpoint(TRACK).size
            except BackchannelError as e:
                self.check(party, "trusts only cosigned checkpoints", ok=False, detail=str(e))
                continue
            self.check(
                party,
                f"trusts only cosigned checkpoints: not size {latest.checkpoint.size} (no cosignature "
                f"yet) but size {trusted}",
                missing and trusted == cosigned < latest.checkpoint.size,
                f"{WITNESS} cosigned {trusted}",
            )
        self.cosign()

    def coordination(self) -> None:
        self.step("12. coordination: a deadlock named, then phased; the ceasefire deal unblocks the track")
        coordination_scene(self.out, TRACK, self._clients(), self._party_check)

    def _clients(self) -> dict[str, BackchannelClient]:
        return {name: member.client for name, member in self.members.items()}

    def _party_check(self, party: str, what: str, ok: bool, detail: str) -> None:
        self.check(party.split("/", maxsplit=1)[0], what, ok, detail)

    # --- the end ----------------------------------------------------------
    def every_message_receipted(self) -> None:
        self.step("11. every message is receipted, and each sender verifies its proofs of receipt")
        entries = self.c("qatar/principal").log.events(TRACK)
        owed: dict[tuple[str, str], int] = {}
        settled: set[tuple[str, str, int]] = set()  # (message, party, the delivery index it names)
        for item in entries:
            event_type = item["signed"]["event"]["type"]
            body = _inner(item)
            if event_type == "message.forwarded":
                message_id = str(body["message_id"])
            elif event_type == "message.reframed":
                message_id = str(body["command_digest"])
            elif event_type == "receipt.recorded":
                party = _by(item).split("/")[0]
                settled.update((str(m), party, int(i)) for m, i in body.get("items") or [])
                continue
            else:
                continue
            for party in body.get("to_parties") or []:
                owed[(message_id, str(party))] = item["index"]
        missing = [f"{_short(m)}→{p}" for (m, p), i in owed.items() if (m, p, i) not in settled]
        self.check("qatar", f"all {len(owed)} deliveries receipted by their recipients", not missing,
                   ", ".join(missing))  # fmt: skip
        for party in PARTIES:
            self.proofs_of_receipt(party)

    def proofs_of_receipt(self, party: str) -> None:
        """The party fetches the proof of receipt of each of its delivered messages and verifies it."""
        client = self.c(f"{party}/principal")
        own = [
            str(_inner(e)["command_digest"])
            for e in client.log.events(TRACK)
            if e["signed"]["event"]["type"] in {"message.submitted", "message.reframed"}
            and _by(e).split("/")[0] == party
        ]
        proven: list[str] = []
        failures: list[str] = []
        for message_id in own:
            try:
                proofs = client.log.receipt_proofs(TRACK, message_id)
            except BackchannelError as e:
                failures.append(f"{_short(message_id)}: {e}")
                continue
            for proof in proofs:
                if proof.settled:
                    proven.append(f"{_short(message_id)}→{proof.party} at {proof.log_index}")
                else:
                    failures.append(f"{_short(message_id)}→{proof.party} is {proof.status}")
        delivered = len(proven) + len(failures)
        self.check(
            party,
            f"{len(proven)} of {delivered} proof(s) of receipt of its messages verified",
            bool(proven) and not failures,
            "; ".join(failures)
            or "recipient's signed receipt, its digest, the delivery index, inclusion: " + ", ".join(proven),
        )

    def transcripts(self) -> None:
        self.cosign()
        for party in PARTIES:
            name = f"{party}/principal"
            client = self.c(name)
            entries = client.log.events(TRACK)
            table = transcript(entries, f"transcript visible to {party} ({len(entries)} entries)")
            self.out.print(table)
            self.verify_party(party, entries)

    def verify_party(self, party: str, entries: list[dict[str, Any]]) -> None:
        name = f"{party}/principal"
        client = self.c(name)
        own = [e for e in entries if _by(e).split("/")[0] == party]
        failures: list[str] = []
        for item in own:
            try:
                client.log.verify_inclusion(TRACK, item["index"], item["leaf_hash"])
            except BackchannelError as e:
                failures.append(f"{item['index']}: {e}")
        indexes = _ranges([int(e["index"]) for e in own])
        self.check(party, f"its {len(own)} own entries are in the log at their indexes [{indexes}]",
                   not failures, "; ".join(failures) or "inclusion proofs verified")  # fmt: skip
        first = self.members[name].first_note
        try:
            last = client.log.checkpoint(TRACK).size
            latest = client.log.latest_checkpoint(TRACK)
            if first is None or latest is None:
                raise VerificationError("no checkpoint was verified")
            client.log.check_consistency(TRACK, first, latest)  # an explicit proof, first to last
        except BackchannelError as e:
            self.check(party, "checkpoints consistent", ok=False, detail=str(e))
        else:
            what = f"checkpoints consistent from size {first.checkpoint.size} to size {last}"
            self.check(
                party,
                what,
                ok=True,
                detail="consistency proof from its first checkpoint to its last verified",
            )
            quorum = client.witnesses.check(latest)
            self.check(
                party,
                f"its checkpoint {last} is trusted: signed by the log, cosigned by {WITNESS} "
                f"({len(quorum.valid)} of {quorum.required} required)",
                quorum.satisfied and WITNESS in quorum.valid,
                "" if quorum.satisfied else quorum.describe(),
            )

    def witness_record(self) -> None:
        """How many checkpoints norway cosigned, each proven consistent with the one before."""
        sizes = self.cosigned
        self.check(
            "norway",
            f"norway cosigned {len(sizes)} checkpoints, each consistent with the one before",
            bool(sizes) and all(a < b for a, b in itertools.pairwise(sizes)),
            "sizes " + ", ".join(str(s) for s in sizes),
        )

    def final_checkpoint(self) -> None:
        client = self.c("qatar/principal")
        client.log.checkpoint(TRACK)
        note = client.log.latest_checkpoint(TRACK)
        assert note is not None  # checkpoint() just verified one
        render.print_checkpoint(self.out, note)
        for signature in note.signatures:
            what = "the witness's cosignature" if signature.name == WITNESS else "the log's signature"
            self.out.print(f"  — {signature.name}: {what}", markup=False, style="dim")


def run_live_demo(
    console: Console, data_dir: Path, *, serve: bool = False, flash_deadline: float = 3.0
) -> None:
    """Play the Doha talks against a real server subprocess; raise if any check fails.

    Raises:
        VerificationError: a check failed (they are all printed first).
        ConfigurationError: the server could not be started.
    """
    began = time.monotonic()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    key_dir = data_dir / "keys"
    key_dir.mkdir(parents=True)
    (data_dir / "server").mkdir()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` stops the server
    try:
        _play(console, data_dir, key_dir, began, serve=serve, flash_deadline=flash_deadline)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _play(
    console: Console, data_dir: Path, key_dir: Path, began: float, *, serve: bool, flash_deadline: float
) -> None:
    with server_for(data_dir, flash_deadline) as server:
        info = server.start()
        console.print(f"server: {server.url} (pid {server.pid}, data {server.data_dir})", markup=False)
        console.print(f"log key: {info['log_key']}", soft_wrap=True, markup=False)
        scenario = _Scenario(console, server.url, info["log_key"], key_dir, data_dir / "witness")
        try:
            scenario.setup(info["service_key"])
            scenario.agenda()
            scenario.round()
            scenario.malformed()
            scenario.offline_and_flash(flash_deadline)
            scenario.negotiating_text()
            scenario.deals()
            scenario.escrow()
            scenario.obligation()
            scenario.witnessed()
            scenario.every_message_receipted()
            scenario.transcripts()
            scenario.witness_record()
            scenario.coordination()
            print_checks(console, scenario.checks)
            scenario.final_checkpoint()
        finally:
            scenario.close()
        failed = [c for c in scenario.checks if not c.ok]
        console.print(f"demo took {time.monotonic() - began:.1f} s; key files in {key_dir}", markup=False)
        if failed:
            raise VerificationError(
                f"{len(failed)} demo check(s) failed: " + "; ".join(c.what for c in failed)
            )
        console.print(Text(f"OK: all {len(scenario.checks)} checks passed", style="bold green"))
        if serve:
            console.print(f"serving on {server.url} (pid {server.pid}); Ctrl-C to stop", markup=False)
            print_console_link(console, server.url, key_dir)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
            try:
                server.wait()
            except KeyboardInterrupt:
                console.print("stopping")
