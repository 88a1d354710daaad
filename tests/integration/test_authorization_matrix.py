"""Who may read and do what over HTTP: member x endpoint x track (ADR-0011 "Visibility", ADR-0012).

One world is built over the real API with real keys: a mediator ``qatar``
(principal + service node), delegations ``usa`` (principal, delegate,
observer) and ``iran`` (principal, delegate), and a witness ``guarantor``. USA
submits a proposal that is never forwarded and two statements: the mediator
forwards one to Iran and reframes the other for Iran; Iran submits a statement
of its own. A second track (``oslo``, mediator ``oman``) holds a secret of its
own; no track-1 member belongs to it, except that the service node's key is
every track's service member.

Annex blobs (ADR-0014) sit beside the log: USA uploads one for its
unforwarded proposal and one for the forwarded statement, the mediator one
for its reframing, and Iran one that no message names. The annex matrix
asserts who may fetch each (uploader's party, mediator, parties the message
naming it went to) and that everyone else gets exactly the 404 of a digest
nobody uploaded.

The read matrix asserts exactly which entries each member sees, that every
salt and signed body it receives belongs to an event
:func:`~backchannel.domain.visibility.visible_to` lets it see, and that no
secret of an invisible entry (salt, body marker, unforwarded message id)
appears anywhere in any response. The command matrix (a separate sandbox
world, so reads stay fixed) asserts the role rules of every command.

The negotiating text (ADR-0020): the mediator drafts a text and USA and Iran
each comment on it privately. The text is read by the mediator and both
delegations (never the witness); each comment by the mediator and its own
party only, through the log (the read matrix) and the text endpoints (the
text matrix). Witness cosignatures (ADR-0019) may be submitted by the witness
party's member only (the cosignature matrix).

Each case is parametrised by member, endpoint (or command) and track, so a
failure names all three. The proof-of-receipt endpoint has a matrix of its own
(member x message x track: only the author's party and the mediator get an
answer; anyone else the 404 of a missing message). New endpoints (inbox, SSE)
are not enumerated here. Forecasts and the language check (ADR-0045) have a matrix of
their own (member x endpoint) and their three commands are in the command matrix.
The coordination log (issue #12) is run by the mediator's principal (the facts by
its service) and read by the mediator's members only (the coordination matrix).
"""

import base64
import hashlib
import json
import secrets
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette wants httpx2; the project pins httpx 0.28 (ADR-0012)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from backchannel.api import create_app
from backchannel.api.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from backchannel.domain import Agenda, event_from_dict
from backchannel.domain.visibility import visible_to
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.cosignature import CosignatureSigner
from backchannel.log.records import LogEntry, format_timestamp
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair, generate_agreement_key, generate_signing_key
from backchannel.protocol.wire import agenda_digest, sign_command
from backchannel.sdk import receipt_digest
from backchannel.service.forecasts import compute_issues
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
OTHER = "oslo"
ORIGIN = "http://testserver"


NODE = pair(1, "qatar/service")
MEMBERS: dict[str, KeyPair] = {
    "qatar/principal": pair(2, "qatar/principal"),
    "qatar/service": NODE,
    "usa/principal": pair(3, "usa/principal"),
    "usa/delegate": pair(5, "usa/delegate"),
    "usa/observer": pair(6, "usa/observer"),
    "iran/principal": pair(4, "iran/principal"),
    "iran/delegate": pair(7, "iran/delegate"),
    "guarantor/principal": pair(8, "guarantor/principal"),
    "iaea/principal": pair(10, "iaea/principal"),  # an inspector (ADR-0017)
}
# The second track: its own mediator, and a "usa/principal" of the same name but another key.
OMAN = pair(20, "oman/principal")
OSLO_USA = pair(21, "usa/principal")
OMAN_SERVICE = KeyPair("oman/service", NODE.signing, NODE.agreement)  # the node key, enrolled as oman's


def statement(text: str, in_reply_to: str | None = None, annexes: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "kind": "statement", "body": {"text": text}, "priority": "routine",
        "in_reply_to": in_reply_to, "annexes": list(annexes), "agenda_version": None,
    }  # fmt: skip


ANNEXES = {  # label: (uploader, bytes)
    "A_P": ("usa/principal", b"annex of the proposal nobody forwarded"),
    "A_S1": ("usa/principal", b"annex of the statement forwarded to iran"),
    "A_R": ("qatar/principal", b"annex the mediator attached to its reframing for iran"),
    "A_I": ("iran/delegate", b"annex iran uploaded that no message names"),
}


def annex_digest(label: str) -> str:
    return hashlib.sha256(ANNEXES[label][1]).hexdigest()


def receipt_body(*items: tuple[str, int]) -> dict[str, Any]:
    return {"items": [list(i) for i in items], "receipt_digest": receipt_digest(items).hex()}


def problem_slug(response: Any) -> str:
    """The problem ``type`` slug of an error response, checking the problem+json shape."""
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith(PROBLEM_BASE)
    return body["type"].removeprefix(PROBLEM_BASE)


@dataclass
class World:
    """A service behind its HTTP API, and helpers that sign like the members would."""

    path: Path
    clock: FakeClock = field(init=False)
    labels: dict[str, int] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # label -> message id

    def __post_init__(self) -> None:
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(self.path)
        self.writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.service = TrackService(self.writer, NODE, clock=self.clock)
        self.app = create_app(self.service, public_origin=ORIGIN, clock=self.clock)
        self.http = TestClient(self.app, base_url=ORIGIN)

    def request(self, who: KeyPair, method: str, path: str, body: bytes = b"") -> Any:
        sig = sign_request(
            method, ORIGIN + path, {}, body,
            key=who.signing, created=self.clock.now(), nonce=secrets.token_hex(12),
        )  # fmt: skip
        return self.http.request(method, path, content=body, headers=sig)

    def run(self, who: KeyPair, command: str, body: dict[str, Any], track: str = TRACK, **kw: Any) -> Any:
        signed = sign_command(
            who.signing, track=track, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=secrets.token_hex(8), **kw,
        )  # fmt: skip
        return self.request(
            who, "POST", f"/v1/tracks/{track}/commands", json.dumps(signed.to_dict()).encode()
        )

    def run_via(
        self, via: str, who: KeyPair, command: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Run one command alone or as a one-command batch; the command's own status and answer."""
        if via == "single":
            response = self.run(who, command, body)
            if response.status_code >= 400:
                problem_slug(response)  # checks the problem+json shape
            return response.status_code, response.json()
        signed = sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=secrets.token_hex(8),
        )  # fmt: skip
        content = json.dumps({"commands": [signed.to_dict()]}).encode()
        response = self.request(who, "POST", f"/v1/tracks/{TRACK}/commands/batch", content)
        assert response.status_code == 200, response.text
        [item] = response.json()["results"]
        return item["status"], item["result"] if item["result"] is not None else item["problem"]

    def must(self, who: KeyPair, command: str, body: dict[str, Any], track: str = TRACK) -> dict[str, Any]:
        response = self.run(who, command, body, track)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def label(self, name: str, result: dict[str, Any]) -> str:
        """Name the single event a command appended; return its message id (command digest)."""
        assert len(result["events"]) == 1, result
        self.labels[name] = result["first_index"]
        return str(result["events"][0]["command_digest"])

    def submit(self, who: str, text: str) -> str:
        return str(self.must(MEMBERS[who], "submit_message", statement(text))["events"][0]["command_digest"])

    def forward(self, message_id: str, to: str = "iran") -> dict[str, Any]:
        body = {"message_id": message_id, "to_parties": [to]}
        return self.must(MEMBERS["qatar/principal"], "forward_message", body)

    def setup_track(self) -> None:
        """Open TRACK with the parties and members of the module docstring, agenda ratified."""
        qatar = MEMBERS["qatar/principal"]
        service_key = self.http.get("/v1/service").json()["service_key"]
        self.must(qatar, "open_track", {
            "title": "Doha", "principal_key": new_key(qatar), "service_key": {**service_key, "expires_at": None},
        })  # fmt: skip
        for party, kind in (("usa", "delegation"), ("iran", "delegation"), ("guarantor", "witness"), ("iaea", "inspector")):  # fmt: skip
            principal = MEMBERS[f"{party}/principal"]
            self.must(qatar, "admit_party", {
                "party": party, "kind": kind, "principal": principal.name, "principal_key": new_key(principal),
            })  # fmt: skip
        for name, role in (("usa/delegate", "delegate"), ("usa/observer", "observer"), ("iran/delegate", "delegate")):  # fmt: skip
            principal = MEMBERS[name.split("/")[0] + "/principal"]
            self.must(principal, "enroll_member", {"new_member": name, "role": role, "new_key": new_key(MEMBERS[name])})  # fmt: skip
        self.must(qatar, "propose_agenda", {"agenda": AGENDA.to_dict()})
        for name in ("usa/principal", "iran/principal"):
            body = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
            self.must(MEMBERS[name], "ratify_agenda", body)
        self.must(qatar, "define_metric", {
            "metric": "matrix.metric", "unit": "%", "issue": None, "inspectors": ["iaea"], "quorum": 1,
            "tolerance": 0, "tolerance_kind": "absolute", "window_seconds": 1,
        })  # fmt: skip

    def close(self) -> None:
        self.http.close()
        self.store.close()


def build_read_world(path: Path) -> World:
    w = World(path)
    w.setup_track()
    w.labels["setup_end"] = w.store.size(TRACK)
    for label, (uploader, data) in ANNEXES.items():
        path = f"/v1/tracks/{TRACK}/annexes/{annex_digest(label)}"
        assert w.request(MEMBERS[uploader], "PUT", path, data).status_code == 201
    assert w.store.size(TRACK) == w.labels["setup_end"]  # annexes are not log entries
    usa, iran, qatar = MEMBERS["usa/principal"], MEMBERS["iran/principal"], MEMBERS["qatar/principal"]
    proposal = {
        "kind": "proposal", "body": {"values": {"enrichment_cap_pct": 3.21}}, "priority": "routine",
        "in_reply_to": None, "annexes": [annex_digest("A_P")], "agenda_version": 1,
    }  # fmt: skip
    w.markers["P"] = w.label("P", w.must(usa, "submit_message", proposal))  # its id is its only marker
    w.markers["S1"] = "MARKER-S1-usa-statement-forwarded"
    s1 = w.label(
        "S1", w.must(usa, "submit_message", statement(w.markers["S1"], annexes=(annex_digest("A_S1"),)))
    )
    w.label("F", w.must(qatar, "forward_message", {"message_id": s1, "to_parties": ["iran"]}))
    w.markers["S2"] = "MARKER-S2-usa-statement-reframed"
    s2 = w.label("S2", w.must(MEMBERS["usa/delegate"], "submit_message", statement(w.markers["S2"])))
    w.markers["R"] = "MARKER-R-reframed-text-for-iran"
    reframe = {
        "message_id": s2, "to_parties": ["iran"], "body": {"text": w.markers["R"]},
        "annexes": [annex_digest("A_R")], "agenda_version": None,
    }  # fmt: skip
    w.ids["R"] = w.label("R", w.must(qatar, "reframe_message", reframe))
    w.markers["I1"] = "MARKER-I1-iran-statement"
    w.ids["I1"] = w.label("I1", w.must(iran, "submit_message", statement(w.markers["I1"])))
    # Iran receipts the forward and (another member, another receipt) the reframing.
    w.ids.update(P=w.markers["P"], S1=s1, S2=s2)
    w.label("RS1", w.must(iran, "record_receipt", receipt_body((s1, w.labels["F"]))))
    w.label(
        "RR", w.must(MEMBERS["iran/delegate"], "record_receipt", receipt_body((w.ids["R"], w.labels["R"])))
    )
    w.markers["T"] = "MARKER-T-negotiating-text"
    w.label(
        "T", w.must(qatar, "draft_text", {"doc": "framework", "title": "Framework", "text": w.markers["T"]})
    )
    w.markers["CU"] = "MARKER-CU-usa-private-comment"
    w.label("CU", w.must(usa, "comment_text", {"doc": "framework", "version": 1, "text": w.markers["CU"]}))
    w.markers["CI"] = "MARKER-CI-iran-private-comment"
    comment = {"doc": "framework", "version": 1, "text": w.markers["CI"]}
    w.label("CI", w.must(MEMBERS["iran/delegate"], "comment_text", comment))

    # the second track, which holds a secret of its own
    service_key = w.http.get("/v1/service").json()["service_key"]
    w.must(OMAN, "open_track", {
        "title": "Oslo", "principal_key": new_key(OMAN), "service_key": {**service_key, "expires_at": None},
    }, OTHER)  # fmt: skip
    w.must(OMAN, "admit_party", {
        "party": "usa", "kind": "delegation", "principal": OSLO_USA.name, "principal_key": new_key(OSLO_USA),
    }, OTHER)  # fmt: skip
    w.markers["O1"] = "MARKER-O1-oslo-secret"
    w.must(OSLO_USA, "submit_message", statement(w.markers["O1"]), OTHER)
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_read_world(tmp_path_factory.mktemp("matrix") / "db.sqlite3")
    yield w
    w.close()


# --- the read matrix ---------------------------------------------------------

_USA = ("usa/principal", "usa/delegate", "usa/observer")
_IRAN = ("iran/principal", "iran/delegate")
_QATAR = ("qatar/principal", "qatar/service")
# Which labelled entries each member sees, besides the public setup entries (non-witnesses only).
EXPECTED_LABELS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_QATAR, frozenset({"P", "S1", "F", "S2", "R", "I1", "RS1", "RR", "T", "CU", "CI"})),
    # USA: its own messages, the forward of its own message and Iran's receipt of it; never the
    # reframe (sent to Iran only) nor its receipt; the text, and its own comment only
    **dict.fromkeys(_USA, frozenset({"P", "S1", "F", "S2", "RS1", "T", "CU"})),
    # Iran: what was delivered to it, its own message and its receipts; never USA's originals or
    # unforwarded proposal; the text, and its own comment only
    **dict.fromkeys(_IRAN, frozenset({"F", "R", "I1", "RS1", "RR", "T", "CI"})),
    "guarantor/principal": frozenset(),
    "iaea/principal": frozenset(),  # an inspector sees the public entries (metric definitions included) only
}
LABELS = ("P", "S1", "F", "S2", "R", "I1", "RS1", "RR", "T", "CU", "CI")
READS = ("events", "leaves", "checkpoint", "inclusion", "consistency")


def read_path(w: World, endpoint: str, track: str) -> str:
    size = w.store.size(track)
    index = w.labels["P"] if track == TRACK else size - 1
    return {
        "events": f"/v1/tracks/{track}/events?after=0&limit=1000",
        "leaves": f"/v1/tracks/{track}/leaves?start=0",
        "checkpoint": f"/v1/tracks/{track}/checkpoint",
        "inclusion": f"/v1/tracks/{track}/proofs/inclusion?index={index}&size={size}",
        "consistency": f"/v1/tracks/{track}/proofs/consistency?old=1&new={size}",
    }[endpoint]


def reader_of(member: str, track: str) -> str | None:
    """The member id the track knows this key as (None: the key is not enrolled there)."""
    if track == TRACK:
        return member
    return "oman/service" if member == "qatar/service" else None


def secrets_of(w: World, track: str) -> dict[int, set[str]]:
    """Per log index, strings that only a reader allowed to see that entry may receive."""
    found: dict[int, set[str]] = {}
    markers = {m for k, m in w.markers.items() if k != "P"}
    for stored in w.store.read(track, 0, w.store.size(track)):
        text = json.dumps(stored.decode().signed.to_dict())
        tokens = {base64.b64encode(stored.salt).decode()}
        tokens |= {m for m in markers if m in text}
        if stored.seq == w.labels.get("P") and track == TRACK:
            tokens.add(w.markers["P"])
        found[stored.seq] = tokens
    return found


def visible_indexes(w: World, member: str | None, track: str) -> set[int]:
    """The oracle: the indexes visible_to (or, for the node's key entry, the non-witness rule) allows."""
    if member is None:
        return set()
    state = w.service.state(track)
    assert state is not None
    allowed: set[int] = set()
    for stored in w.store.read(track, 0, w.store.size(track)):
        event = stored.decode().signed.event
        if event.type == KEY_REGISTERED:
            record = state.members.get(member)
            if record is not None and state.parties[record.party].kind.value != "witness":
                allowed.add(stored.seq)
        elif isinstance(event.body, dict) and visible_to(state, member, event_from_dict(event.body["event"])):
            allowed.add(stored.seq)
    return allowed


def assert_no_leak(w: World, member: str | None, track: str, text: str) -> None:
    allowed = visible_indexes(w, member, track)
    for t in (TRACK, OTHER):
        for index, tokens in secrets_of(w, t).items():
            if t == track and index in allowed:
                continue
            leaked = sorted(token for token in tokens if token in text)
            assert not leaked, f"{member} received secrets of {t} entry {index}: {leaked}"


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("endpoint", READS)
@pytest.mark.parametrize("member", list(MEMBERS))
def test_read_matrix(world: World, member: str, endpoint: str, track: str) -> None:
    response = world.request(MEMBERS[member], "GET", read_path(world, endpoint, track))
    reader = reader_of(member, track)
    if reader is None:
        # a key the track does not know: refused before anything is read
        assert response.status_code == 401, response.text
        assert problem_slug(response) == "unauthenticated"
        assert_no_leak(world, None, track, response.text)
        return
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_no_leak(world, reader, track, response.text)
    body = response.json()
    size = world.store.size(track)
    if endpoint == "events":
        assert body["size"] == size
        assert body["next"] == size
        check_entries(world, reader, track, body["entries"])
    else:  # the witness views carry hashes, never bodies or salts
        assert (
            set(body)
            == {
                "leaves": {"start", "leaf_hashes"},
                "checkpoint": {"checkpoint", "size", "log_key"},
                "inclusion": {"index", "size", "proof"},
                "consistency": {"old", "new", "proof"},
            }[endpoint]
        )
        if endpoint == "leaves":
            assert body["leaf_hashes"] == [s.leaf_hash.hex() for s in world.store.read(track, 0, size)]


def check_each_entry(w: World, reader: str, track: str, entries: list[dict[str, Any]]) -> None:
    """Each entry is the stored one (its leaf hash recomputes from its salt) and visible_to allows it."""
    stored = {s.seq: s for s in w.store.read(track, 0, w.store.size(track))}
    for entry in entries:
        original = stored[entry["index"]]
        decoded = LogEntry.from_dict({"signed": entry["signed"], "salt": entry["salt"]})
        assert decoded.leaf_hash == original.leaf_hash, entry["index"]
        assert entry["leaf_hash"] == original.leaf_hash.hex()
        assert entry["index"] in visible_indexes(w, reader, track), f"{reader} got entry {entry['index']}"


def check_entries(w: World, reader: str, track: str, entries: list[dict[str, Any]]) -> None:
    seen = [e["index"] for e in entries]
    assert seen == sorted(set(seen))
    check_each_entry(w, reader, track, entries)
    stored = {s.seq: s for s in w.store.read(track, 0, w.store.size(track))}
    if track == OTHER:  # the node key reads oslo as its service member: everything
        assert set(seen) == set(stored)
        return
    if reader == "guarantor/principal":
        assert seen == []
        return
    labels = {v: k for k, v in w.labels.items() if k != "setup_end"}
    public = set(range(w.labels["setup_end"]))
    expected = public | {w.labels[name] for name in EXPECTED_LABELS[reader]}
    assert set(seen) == expected, {labels.get(i, i) for i in set(seen) ^ expected}


# Which parties may fetch each annex: its uploader's, the mediator, and those a message naming it went to.
ANNEX_READERS: dict[str, frozenset[str]] = {
    "A_P": frozenset({"usa", "qatar"}),  # P was never forwarded
    "A_S1": frozenset({"usa", "qatar", "iran"}),  # S1 was forwarded to iran
    "A_R": frozenset({"qatar", "iran"}),  # the reframing went to iran; usa never sees it
    "A_I": frozenset({"iran", "qatar"}),  # no message names it
    "unknown": frozenset(),
}


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("annex", list(ANNEX_READERS))
@pytest.mark.parametrize("member", list(MEMBERS))
def test_annex_matrix(world: World, member: str, annex: str, track: str) -> None:
    digest = annex_digest(annex) if annex in ANNEXES else hashlib.sha256(b"nobody uploaded this").hexdigest()
    response = world.request(MEMBERS[member], "GET", f"/v1/tracks/{track}/annexes/{digest}")
    reader = reader_of(member, track)
    if reader is None:
        assert response.status_code == 401, response.text
        assert problem_slug(response) == "unauthenticated"
        return
    if track == TRACK and reader.split("/")[0] in ANNEX_READERS[annex]:
        assert response.status_code == 200, response.text
        assert response.content == ANNEXES[annex][1]
        return
    # not allowed, unknown, or another track's: one answer, whatever the reason
    assert response.status_code == 404, response.text
    assert problem_slug(response) == "not-found"
    assert response.json()["detail"] == f"no annex {digest} on track {track!r}"
    if annex in ANNEXES:
        assert ANNEXES[annex][1] not in response.content


def test_the_world_is_what_the_matrix_assumes(world: World) -> None:
    """The oracle agrees with the hand-written expectations, so neither can drift silently."""
    for member, names in EXPECTED_LABELS.items():
        labelled = {world.labels[n] for n in LABELS}
        got = visible_indexes(world, member, TRACK) & labelled
        assert got == {world.labels[n] for n in names}, member


@pytest.mark.parametrize("member", list(MEMBERS))
def test_paging_never_skips_into_hidden_entries(world: World, member: str) -> None:
    """Reading one entry at a time yields the same set as one big page, and `next` always advances."""
    after, seen = 0, []
    for _ in range(world.store.size(TRACK) + 1):
        response = world.request(MEMBERS[member], "GET", f"/v1/tracks/{TRACK}/events?after={after}&limit=1")
        assert response.status_code == 200, response.text
        page = response.json()
        assert_no_leak(world, member, TRACK, response.text)
        seen += [e["index"] for e in page["entries"]]
        if page["next"] >= page["size"]:
            break
        assert page["next"] > after
        after = page["next"]
    assert set(seen) == visible_indexes(world, member, TRACK)


# Proof of receipt: only the message's author party and the mediator may ask.
MESSAGES = ("P", "S1", "S2", "R", "I1", "unknown")
AUTHOR = {"P": "usa", "S1": "usa", "S2": "usa", "R": "qatar", "I1": "iran"}
# message -> (recipient party, its delivery label, its receipt label); P, S2 and I1 were never delivered
RECEIPTS = {"S1": ("iran", "F", "RS1"), "R": ("iran", "R", "RR")}
MISSING = "ef" * 32


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("member", list(MEMBERS))
def test_receipts_matrix(world: World, member: str, message: str, track: str) -> None:
    message_id = world.ids.get(message, MISSING)
    path = f"/v1/tracks/{track}/messages/{message_id}/receipts"
    response = world.request(MEMBERS[member], "GET", path)
    reader = reader_of(member, track)
    if reader is None:
        assert response.status_code == 401, response.text
        assert problem_slug(response) == "unauthenticated"
        return
    # a problem's "instance" is the path the reader sent (with the id it already knows)
    assert_no_leak(world, reader, track, response.text.replace(path, ""))
    party = reader.partition("/")[0]
    allowed = track == TRACK and message in AUTHOR and party in {AUTHOR[message], "qatar"}
    if not allowed:
        # the same answer as for a message that does not exist: no existence oracle
        assert response.status_code == 404, response.text
        assert problem_slug(response) == "not-found"
        missing = world.request(MEMBERS[member], "GET", f"/v1/tracks/{track}/messages/{MISSING}/receipts")
        assert response.json() == {**missing.json(), "instance": path}
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["track"], body["message_id"], body["party"]) == (track, message_id, AUTHOR[message])
    if message not in RECEIPTS:
        assert body["receipts"] == []
        return
    recipient, delivered, settled = RECEIPTS[message]
    (proof,) = body["receipts"]
    assert (proof["party"], proof["status"]) == (recipient, "settled")
    assert proof["delivery_index"] == proof["delivery"]["index"] == world.labels[delivered]
    assert proof["log_index"] == proof["entry"]["index"] == world.labels[settled]
    assert proof["item"] == {"message_id": message_id, "log_index": world.labels[delivered]}
    check_each_entry(world, reader, track, [proof["delivery"], proof["entry"]])
    command = proof["entry"]["signed"]["event"]["body"]["command"]
    signer = MEMBERS[proof["signer"]["member"]]
    assert command["payload"]["member"] == signer.name
    assert proof["signer"]["key_id"] == command["payload"]["key_id"] == signer.signing.key_id
    assert base64.b64decode(proof["signer"]["ed25519"]) == signer.signing.verifying_key.public_bytes


def test_replying_to_an_invisible_message_is_indistinguishable_from_a_missing_one(world: World) -> None:
    """Iran cannot probe whether USA's unforwarded proposal exists via in_reply_to."""
    iran = MEMBERS["iran/principal"]
    hidden = world.markers["P"]
    missing = "ab" * 32
    size = world.store.size(TRACK)
    a = world.run(iran, "submit_message", statement("probe", in_reply_to=hidden))
    b = world.run(iran, "submit_message", statement("probe", in_reply_to=missing))
    assert (a.status_code, problem_slug(a)) == (b.status_code, problem_slug(b))
    assert a.json()["detail"].replace(hidden, missing) == b.json()["detail"]
    assert world.store.size(TRACK) == size


# --- the negotiating text's endpoints (ADR-0020) ------------------------------

TEXT_READS = ("texts", "text", "diff", "comments")
TEXT_READERS = frozenset({*_QATAR, *_USA, *_IRAN})
COMMENTS_SEEN = {"qatar": {"CU", "CI"}, "usa": {"CU"}, "iran": {"CI"}}


@pytest.mark.parametrize("endpoint", TEXT_READS)
@pytest.mark.parametrize("member", list(MEMBERS))
def test_text_matrix(world: World, member: str, endpoint: str) -> None:
    path = {
        "texts": f"/v1/tracks/{TRACK}/texts",
        "text": f"/v1/tracks/{TRACK}/texts/framework?version=1",
        "diff": f"/v1/tracks/{TRACK}/texts/framework/diff?from=1&to=1",
        "comments": f"/v1/tracks/{TRACK}/texts/framework/comments",
    }[endpoint]
    response = world.request(MEMBERS[member], "GET", path)
    assert_no_leak(world, member, TRACK, response.text)
    if member not in TEXT_READERS:
        assert response.status_code == 403, response.text
        assert problem_slug(response) == "not-authorized"
        assert world.markers["T"] not in response.text
        return
    assert response.status_code == 200, response.text
    body = response.json()
    if endpoint == "text":
        assert body["text"] == world.markers["T"]
    elif endpoint == "comments":
        party = member.split("/", maxsplit=1)[0]
        assert {c["text"] for c in body["comments"]} == {world.markers[k] for k in COMMENTS_SEEN[party]}


# --- witness cosignatures (ADR-0019) -------------------------------------------


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("member", list(MEMBERS))
def test_cosignature_matrix(world: World, member: str, track: str) -> None:
    """Only a witness party's member may cosign; every cosignature is its own, over a stored checkpoint."""
    note = world.store.latest_checkpoint(track)
    assert note is not None
    keys = MEMBERS[member]
    line = CosignatureSigner(member, keys.signing).cosign(note.checkpoint, int(world.clock.now().timestamp()))
    path = f"/v1/tracks/{track}/checkpoints/{note.checkpoint.size}/cosignatures"
    before = world.store.cosignatures(track, note.checkpoint.size)
    response = world.request(keys, "POST", path, json.dumps({"cosignature": line.to_line()}).encode())
    if reader_of(member, track) is None:
        assert response.status_code == 401, response.text
        assert problem_slug(response) == "unauthenticated"
    elif track == TRACK and member == "guarantor/principal":
        assert response.status_code in {200, 201}, response.text
        assert response.json()["checkpoint"].endswith(line.to_line() + "\n")
        return
    else:
        assert response.status_code == 403, response.text
        assert problem_slug(response) == "not-authorized"
    assert world.store.cosignatures(track, note.checkpoint.size) == before


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("member", list(MEMBERS))
def test_split_view_matrix(world: World, member: str, track: str) -> None:
    """Every member reads a track's split-view alarms; only a witness may report one, with real evidence."""
    keys = MEMBERS[member]
    path = f"/v1/tracks/{track}/split-views"
    read = world.request(keys, "GET", path, b"")
    notes = [n.to_text() for n in world.store.checkpoints(track)][-2:]
    body = json.dumps({"old": notes[0], "new": notes[-1]}).encode()
    report = world.request(keys, "POST", path, body)
    if reader_of(member, track) is None:
        assert (read.status_code, report.status_code) == (401, 401), (read.text, report.text)
        assert problem_slug(report) == "unauthenticated"
    else:
        assert read.status_code == 200, read.text
        assert read.json() == {"track": track, "split_views": []}
        if track == TRACK and member == "guarantor/principal":  # a witness, but both notes are the log's
            assert report.status_code == 422, report.text
            assert "not a split view" in report.json()["detail"]
        else:
            assert report.status_code == 403, report.text
            assert problem_slug(report) == "not-authorized"
    assert world.store.split_views(track) == []


# --- the command matrix ------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world that the command cells may change (the read world stays as built)."""
    w = World(tmp_path_factory.mktemp("sandbox") / "db.sqlite3")
    w.setup_track()
    service_key = w.http.get("/v1/service").json()["service_key"]
    w.must(OMAN, "open_track", {
        "title": "Oslo", "principal_key": new_key(OMAN), "service_key": {**service_key, "expires_at": None},
    }, OTHER)  # fmt: skip
    yield w
    w.close()


_counter = iter(range(10**6))


def _fresh(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def fresh_pair(name: str) -> KeyPair:
    return KeyPair(name, generate_signing_key(), generate_agreement_key())


def _submit(w: World, member: str) -> dict[str, Any]:
    body = statement(_fresh("hi "))
    return {"command": "submit_message", "body": body}


def _propose(w: World, member: str) -> dict[str, Any]:
    state = w.service.state(TRACK)
    assert state is not None
    assert state.agenda is not None
    agenda = Agenda(state.agenda.version + 1, AGENDA.issues)
    return {"command": "propose_agenda", "body": {"agenda": agenda.to_dict()}}


def _ratify(w: World, member: str) -> dict[str, Any]:
    # A fresh agenda version nobody ratified yet, so an allowed ratification succeeds.
    w.must(MEMBERS["qatar/principal"], "propose_agenda", _propose(w, member)["body"])
    state = w.service.state(TRACK)
    assert state is not None
    assert state.agenda is not None
    body = {"version": state.agenda.version, "agenda_digest": state.agenda.digest.hex()}
    return {"command": "ratify_agenda", "body": body}


def _forward(w: World, member: str) -> dict[str, Any]:
    message_id = w.submit("usa/principal", _fresh("to forward "))
    return {"command": "forward_message", "body": {"message_id": message_id, "to_parties": ["iran"]}}


def _reframe(w: World, member: str) -> dict[str, Any]:
    message_id = w.submit("usa/principal", _fresh("to reframe "))
    body = {
        "message_id": message_id, "to_parties": ["iran"], "body": {"text": _fresh("reframed ")},
        "annexes": [], "agenda_version": None,
    }  # fmt: skip
    return {"command": "reframe_message", "body": body}


def _text_policy(w: World, policy: str) -> None:
    state = w.service.state(TRACK)
    assert state is not None
    if state.texts.policy.value != policy:
        w.must(MEMBERS["qatar/principal"], "set_text_policy", {"policy": policy})


def _text_doc(w: World) -> int:
    """Make sure the sandbox's document exists; return its current version."""
    state = w.service.state(TRACK)
    assert state is not None
    if "matrix-doc" not in state.texts.documents:
        body = {"doc": "matrix-doc", "title": "Matrix", "text": "v1"}
        w.must(MEMBERS["qatar/principal"], "draft_text", body)
        return 1
    return state.texts.documents["matrix-doc"].current.version


def _draft_text(w: World, member: str) -> dict[str, Any]:
    _text_policy(w, "mediator-only")
    return {"command": "draft_text", "body": {"doc": _fresh("doc-"), "title": "A text", "text": "Article 1."}}


def _edit_text(w: World, member: str) -> dict[str, Any]:
    _text_policy(w, "mediator-only")
    version = _text_doc(w)
    body = {"doc": "matrix-doc", "base_version": version, "text": _fresh("edited ")}
    return {"command": "edit_text", "body": body}


def _set_text_policy(w: World, member: str) -> dict[str, Any]:
    state = w.service.state(TRACK)
    assert state is not None
    other = "shared" if state.texts.policy.value == "mediator-only" else "mediator-only"
    return {"command": "set_text_policy", "body": {"policy": other}}


def _comment_text(w: World, member: str) -> dict[str, Any]:
    _text_doc(w)
    return {
        "command": "comment_text",
        "body": {"doc": "matrix-doc", "version": 1, "text": _fresh("comment ")},
    }


def _admit(w: World, member: str) -> dict[str, Any]:
    party = _fresh("p")
    keys = fresh_pair(f"{party}/principal")
    body = {"party": party, "kind": "delegation", "principal": keys.name, "principal_key": new_key(keys)}
    return {"command": "admit_party", "body": body}


def _enroll(w: World, member: str) -> dict[str, Any]:
    name = _fresh("usa/extra")
    keys = fresh_pair(name)
    return {"command": "enroll_member", "body": {"new_member": name, "role": "delegate", "new_key": new_key(keys)}}  # fmt: skip


def _revoke(w: World, member: str) -> dict[str, Any]:
    # a throwaway usa delegate, so an allowed revocation changes nothing the other cells use
    enrol = _enroll(w, member)["body"]
    w.must(MEMBERS["usa/principal"], "enroll_member", enrol)
    return {"command": "revoke_key", "body": {"subject": enrol["new_member"], "revoked_key_id": enrol["new_key"]["key_id"]}}  # fmt: skip


def _delivered(w: World) -> tuple[str, int]:
    message_id = w.submit("usa/principal", _fresh("delivered "))
    return message_id, w.forward(message_id)["first_index"]


def _receipt(w: World, member: str) -> dict[str, Any]:
    message_id, index = _delivered(w)
    body = {"items": [[message_id, index]], "receipt_digest": receipt_digest([(message_id, index)]).hex()}
    return {"command": "record_receipt", "body": body}


def _dead_letter(w: World, member: str) -> dict[str, Any]:
    message_id, _ = _delivered(w)
    body = {"message_id": message_id, "party": "iran", "attempts": 3, "reason": "unreachable"}
    return {"command": "record_dead_letter", "body": body}


def _terms(deal_id: str) -> dict[str, Any]:
    """A deal that names no agenda issue (the sandbox's agenda is re-proposed by other cells)."""
    step = {"action": "act", "issue": None, "quantity": {"value": 1, "unit": "kg"}, "conditions": []}
    return {"id": deal_id, "title": "t", "phases": [[{**step, "party": "usa"}, {**step, "party": "iran"}]]}


def _deadline(w: World, seconds: float = 3600) -> str:
    return (w.clock.now() + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _draft_deal(w: World, member: str) -> dict[str, Any]:
    return {"command": "draft_deal", "body": {"deal": _terms(_fresh("deal-"))}}


def _prepare_deal(w: World, member: str) -> dict[str, Any]:
    return {"command": "prepare_deal", "body": {"deal": _terms(_fresh("deal-")), "deadline": _deadline(w)}}


def _prepared(w: World, seconds: float = 3600) -> dict[str, Any]:
    body = {"deal": _terms(_fresh("deal-")), "deadline": _deadline(w, seconds)}
    return w.must(MEMBERS["qatar/principal"], "prepare_deal", body)["events"][0]


def _vote_deal(w: World, member: str) -> dict[str, Any]:
    prepared = _prepared(w)
    body = {"deal_id": prepared["deal"]["id"], "deal_hash": prepared["deal_hash"], "vote": "yes"}
    return {"command": "vote_deal", "body": body}


def _resolve_deal(w: World, member: str) -> dict[str, Any]:
    prepared = _prepared(w, seconds=1)
    w.clock.advance(timedelta(seconds=2))
    return {"command": "resolve_deal", "body": {"deal_id": prepared["deal"]["id"]}}


def _publish_commitment(w: World, member: str) -> dict[str, Any]:
    digest = hashlib.sha256(_fresh("salt-and-content ").encode()).hexdigest()
    return {"command": "publish_commitment", "body": {"label": "next steps agreed", "commitment": digest}}


def _reveal_commitment(w: World, member: str) -> dict[str, Any]:
    party = member.split("/", maxsplit=1)[0]
    publisher = f"{party}/principal" if party in {"qatar", "usa", "iran"} else "usa/principal"
    salt, content = secrets.token_bytes(16), _fresh("content ")
    digest = hashlib.sha256(salt + content.encode()).hexdigest()
    published = w.must(MEMBERS[publisher], "publish_commitment", {"label": "l", "commitment": digest})
    commitment_id = published["events"][0]["command_digest"]
    body = {"commitment_id": commitment_id, "salt": salt.hex(), "content": content}
    return {"command": "reveal_commitment", "body": body}


def _metric(w: World, member: str) -> dict[str, Any]:
    body = {
        "metric": _fresh("matrix.m"), "unit": "%", "issue": None, "inspectors": ["iaea"], "quorum": 1,
        "tolerance": 0, "tolerance_kind": "absolute", "window_seconds": 86400,
    }  # fmt: skip
    return {"command": "define_metric", "body": body}


def _attest(w: World, member: str) -> dict[str, Any]:
    body = {
        "metric": "matrix.metric", "value": 3.5, "unit": "%",
        "observed_at": format_timestamp(w.clock.now()), "site": _fresh("site-"),
    }  # fmt: skip
    return {"command": "file_attestation", "body": body}


def _escrow_terms(w: World, **changes: Any) -> dict[str, Any]:
    return {
        "escrow_id": _fresh("escrow-"),
        "items": [{"what": "assets", "amount": 6e9, "unit": "USD", "owner": "usa", "beneficiary": "iran"}],
        "signers": ["usa", "qatar"], "threshold": 2,
        "predicates": ["matrix.metric <= 3.67 sustained for 1 second"],
        "expires_at": format_timestamp(w.clock.now() + timedelta(days=30)), **changes,
    }  # fmt: skip


def _open_escrow(w: World, member: str) -> dict[str, Any]:
    return {"command": "open_escrow", "body": {"terms": _escrow_terms(w)}}


def _opened(w: World, **changes: Any) -> dict[str, Any]:
    terms = _escrow_terms(w, **changes)
    opened = w.must(MEMBERS["qatar/principal"], "open_escrow", {"terms": terms})
    return {"escrow_id": terms["escrow_id"], "escrow_digest": opened["events"][0]["escrow_digest"]}


def _sign_escrow(w: World, member: str) -> dict[str, Any]:
    return {"command": "sign_escrow_release", "body": _opened(w)}


def _release_escrow(w: World, member: str) -> dict[str, Any]:
    """A releasable escrow: qatar's one signature and an attestation in the current one-second window."""
    body = _opened(w, signers=["qatar"], threshold=1)
    w.must(MEMBERS["qatar/principal"], "sign_escrow_release", body)
    w.must(MEMBERS["iaea/principal"], "file_attestation", _attest(w, member)["body"])
    return {"command": "release_escrow", "body": {"escrow_id": body["escrow_id"]}}


def _expire_escrow(w: World, member: str) -> dict[str, Any]:
    body = _opened(w, expires_at=format_timestamp(w.clock.now() + timedelta(seconds=1)))
    w.clock.advance(timedelta(seconds=2))
    return {"command": "expire_escrow", "body": {"escrow_id": body["escrow_id"]}}


def _obligation_terms(**changes: Any) -> dict[str, Any]:
    terms = {
        "obligation": _fresh("obligation-"), "party": "iran", "metric": "enriched_kg", "unit": "kg", "rate": 5,
        "burst": 20, "period_seconds": 60, "ladder": ["none", "tier-1"], "hold_seconds": 1, "recovery_pct": 0,
        "shared_with": [],
    }  # fmt: skip
    return {**terms, **changes}


def _define_obligation(w: World, member: str) -> dict[str, Any]:
    return {"command": "define_obligation", "body": _obligation_terms()}


def _overdrawn_obligation(w: World) -> str:
    terms = _obligation_terms()
    w.must(MEMBERS["qatar/principal"], "define_obligation", terms)
    body = {
        "obligation": terms["obligation"], "amount": 30, "unit": "kg",
        "observed_at": w.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "source": None,
    }  # fmt: skip
    w.must(MEMBERS["qatar/service"], "record_consumption", body)
    return str(terms["obligation"])


def _record_consumption(w: World, member: str) -> dict[str, Any]:
    obligation = _fresh("obligation-")
    w.must(MEMBERS["qatar/principal"], "define_obligation", _obligation_terms(obligation=obligation))
    body = {
        "obligation": obligation, "amount": 1, "unit": "kg",
        "observed_at": w.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "source": "s",
    }  # fmt: skip
    return {"command": "record_consumption", "body": body}


def _review_obligation(w: World, member: str) -> dict[str, Any]:
    obligation = _overdrawn_obligation(w)
    w.clock.advance(timedelta(seconds=200))  # the 10 kg debt is repaid in 120 s; the hold is 1 s
    return {"command": "review_obligation", "body": {"obligation": obligation}}


def _positions() -> list[dict[str, Any]]:
    actors = [
        {"actor": "iran", "position": 80, "value": None, "salience": 90, "capability": 1},
        {"actor": "usa", "position": None, "value": 3.67, "salience": 80, "capability": 1.5},
    ]
    return [{"issue": "enrichment_cap_pct", "reference": None, "actors": actors}]


def _declared(w: World) -> None:
    w.must(MEMBERS["qatar/principal"], "declare_actor_positions", {"issues": _positions()})


def _declare(w: World, member: str) -> dict[str, Any]:
    return {"command": "declare_actor_positions", "body": {"issues": _positions()}}


def _record_forecast(w: World, member: str) -> dict[str, Any]:
    _declared(w)
    state = w.service.state(TRACK)
    assert state is not None
    book = state.forecasts
    body = {
        "requested_by": "qatar/principal", "declarations": list(book.watermark()),
        "through": format_timestamp(max(d.at for _, d in book.current.values())), "threshold": 40.0,
        "issues": compute_issues(book),
    }  # fmt: skip
    return {"command": "record_forecast", "body": body}


def _share_forecast(w: World, member: str) -> dict[str, Any]:
    _declared(w)
    response = w.request(MEMBERS["qatar/principal"], "POST", f"/v1/tracks/{TRACK}/forecasts")
    assert response.status_code == 201, response.text
    return {
        "command": "share_forecast",
        "body": {"forecast_id": response.json()["forecast_id"], "parties": ["usa"]},
    }


def _dependency_body(dependency_id: str) -> dict[str, Any]:
    return {
        "dependency_id": dependency_id, "waiter": "us-iran-nuclear", "on_track": "ceasefire",
        "kind": "deal_committed", "ref": "deal-1",
    }  # fmt: skip


def _declare_dependency(w: World, member: str) -> dict[str, Any]:
    return {"command": "declare_dependency", "body": _dependency_body(_fresh("dependency-"))}


def _dependency_declared(w: World) -> str:
    dependency_id = _fresh("dependency-")
    w.must(MEMBERS["qatar/principal"], "declare_dependency", _dependency_body(dependency_id))
    return dependency_id


def _withdraw_dependency(w: World, member: str) -> dict[str, Any]:
    return {
        "command": "withdraw_dependency",
        "body": {"dependency_id": _dependency_declared(w), "reason": "phased"},
    }


def _record_dependency_met(w: World, member: str) -> dict[str, Any]:
    evidence = {"track": "ceasefire", "log_index": 3, "event_type": "deal.committed"}
    return {
        "command": "record_dependency_met",
        "body": {"dependency_id": _dependency_declared(w), "evidence": evidence},
    }


def _resource_body(resource_id: str) -> dict[str, Any]:
    return {"resource_id": resource_id, "kind": "room", "capacity": 1}


def _register_resource(w: World, member: str) -> dict[str, Any]:
    return {"command": "register_resource", "body": _resource_body(_fresh("room:"))}


def _booking_body(w: World) -> dict[str, Any]:
    resource = _fresh("room:")
    w.must(MEMBERS["qatar/principal"], "register_resource", _resource_body(resource))
    start = w.clock.now() + timedelta(days=1)
    return {
        "booking_id": _fresh("booking-"), "resource": resource, "holder": "us-iran-nuclear",
        "start": format_timestamp(start), "end": format_timestamp(start + timedelta(hours=1)),
        "priority": 1, "queue": False,
    }  # fmt: skip


def _book_resource(w: World, member: str) -> dict[str, Any]:
    return {"command": "book_resource", "body": _booking_body(w)}


def _cancel_booking(w: World, member: str) -> dict[str, Any]:
    body = _booking_body(w)
    w.must(MEMBERS["qatar/principal"], "book_resource", body)
    return {"command": "cancel_booking", "body": {"booking_id": body["booking_id"]}}


OK = "ok"
DENIED = "not-authorized"
UNSEEN = "unknown-escrow"  # a party an escrow does not concern: for it, the escrow does not exist
COMMANDS: dict[str, tuple[Callable[[World, str], dict[str, Any]], dict[str, str]]] = {
    # command: (body builder, outcome per member; members not listed are DENIED)
    "submit_message": (_submit, dict.fromkeys(("usa/principal", "usa/delegate", *_IRAN), OK)),
    "propose_agenda": (_propose, {"qatar/principal": OK}),
    "ratify_agenda": (_ratify, {"usa/principal": OK, "iran/principal": OK}),
    "forward_message": (_forward, dict.fromkeys(_QATAR, OK)),
    "reframe_message": (_reframe, {"qatar/principal": OK}),
    "admit_party": (_admit, {"qatar/principal": OK}),
    "enroll_member": (_enroll, {"usa/principal": OK}),
    "revoke_key": (_revoke, {"usa/principal": OK}),
    # recipients' members sign receipts; a witness cannot even see the message
    "record_receipt": (
        _receipt,
        {
            **dict.fromkeys(_IRAN, OK),
            "guarantor/principal": "unknown-message",
            "iaea/principal": "unknown-message",
        },
    ),
    "record_dead_letter": (_dead_letter, {"qatar/service": OK}),
    # agreements (issue #4): deals are drafted and prepared by the mediator, voted by delegation
    # principals, resolved at the deadline by the service; commitments by principals of their party
    "draft_deal": (_draft_deal, {"qatar/principal": OK}),
    "prepare_deal": (_prepare_deal, {"qatar/principal": OK}),
    "vote_deal": (_vote_deal, {"usa/principal": OK, "iran/principal": OK}),
    "resolve_deal": (_resolve_deal, {"qatar/service": OK}),
    "publish_commitment": (
        _publish_commitment,
        dict.fromkeys(("qatar/principal", "usa/principal", "iran/principal"), OK),
    ),
    "reveal_commitment": (
        _reveal_commitment,
        dict.fromkeys(("qatar/principal", "usa/principal", "iran/principal"), OK),
    ),
    # attestations and escrow (ADR-0017)
    "define_metric": (_metric, {"qatar/principal": OK}),
    "file_attestation": (_attest, {"iaea/principal": OK}),
    "open_escrow": (_open_escrow, {"qatar/principal": OK}),
    "sign_escrow_release": (
        _sign_escrow,
        {"usa/principal": OK, "qatar/principal": OK, "guarantor/principal": UNSEEN, "iaea/principal": UNSEEN},
    ),
    "release_escrow": (
        _release_escrow,
        {
            **dict.fromkeys((*_QATAR, *_USA, *_IRAN), OK),
            "guarantor/principal": UNSEEN,
            "iaea/principal": UNSEEN,
        },
    ),
    "expire_escrow": (_expire_escrow, {"qatar/service": OK}),
    # the negotiating text under the default mediator-only policy (the shared one: below)
    "draft_text": (_draft_text, {"qatar/principal": OK}),
    "edit_text": (_edit_text, {"qatar/principal": OK}),
    "set_text_policy": (_set_text_policy, {"qatar/principal": OK}),
    "comment_text": (_comment_text, dict.fromkeys(("usa/principal", "usa/delegate", *_IRAN), OK)),
    # obligations (ADR-0018): this world has no inspector, whose members may also record consumption
    "define_obligation": (_define_obligation, {"qatar/principal": OK}),
    "record_consumption": (
        _record_consumption,
        {"qatar/service": OK, "iaea/principal": OK},
    ),  # inspectors or the service
    "review_obligation": (_review_obligation, {"qatar/service": OK}),
    # forecasts on the track (ADR-0045): the mediator's staff declares and shares; the service records
    "declare_actor_positions": (_declare, {"qatar/principal": OK}),
    "record_forecast": (_record_forecast, {"qatar/service": OK}),
    "share_forecast": (_share_forecast, {"qatar/principal": OK}),
    # the coordination log (issue #12, ADR-0027): mediator staff, and the service for the facts
    "declare_dependency": (_declare_dependency, {"qatar/principal": OK}),
    "withdraw_dependency": (_withdraw_dependency, {"qatar/principal": OK}),
    "record_dependency_met": (_record_dependency_met, {"qatar/service": OK}),
    "register_resource": (_register_resource, {"qatar/principal": OK}),
    "book_resource": (_book_resource, {"qatar/principal": OK}),
    "cancel_booking": (_cancel_booking, {"qatar/principal": OK}),
}


@pytest.mark.parametrize("via", ["single", "batch"])
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("member", list(MEMBERS))
def test_command_matrix(sandbox: World, member: str, command: str, via: str) -> None:
    build, outcomes = COMMANDS[command]
    expected = outcomes.get(member, DENIED)
    made = build(sandbox, member)
    assert made["command"] == command
    size = sandbox.store.size(TRACK)
    status, answer = sandbox.run_via(via, MEMBERS[member], command, made["body"])
    if expected == OK:
        assert status == 201, answer
        events = answer["events"]
        assert events
        state = sandbox.service.state(TRACK)
        assert state is not None
        # a command's answer carries only events its signer may see
        assert all(visible_to(state, member, event_from_dict(e)) for e in events)
        assert sandbox.store.size(TRACK) == size + len(events)
    else:
        assert status in {403, 404, 422}, answer  # 404: an escrow the party may not see (issue #8)
        assert answer["type"] == PROBLEM_BASE + expected, answer["detail"]
        assert sandbox.store.size(TRACK) == size


ANALYSIS_ENDPOINTS = ("request", "list", "declarations", "language")
MEDIATOR_STAFF = frozenset({"qatar/principal"})  # qatar/service has the service role


@pytest.mark.parametrize("endpoint", ANALYSIS_ENDPOINTS)
@pytest.mark.parametrize("member", list(MEMBERS))
def test_forecast_and_language_matrix(sandbox: World, member: str, endpoint: str) -> None:
    """Forecasts and declarations are the mediator's until shared; the language check is its staff's alone."""
    _declared(sandbox)
    method, path, body = {
        "request": ("POST", f"/v1/tracks/{TRACK}/forecasts", b""),
        "list": ("GET", f"/v1/tracks/{TRACK}/forecasts", b""),
        "declarations": ("GET", f"/v1/tracks/{TRACK}/forecasts/declarations", b""),
        "language": ("POST", f"/v1/tracks/{TRACK}/language/check", b'{"text": "Accept by Friday or else."}'),
    }[endpoint]
    size = sandbox.store.size(TRACK)
    response = sandbox.request(MEMBERS[member], method, path, body)
    if endpoint == "list":
        assert response.status_code == 200, response.text
        state = sandbox.service.state(TRACK)
        assert state is not None
        party = member.split("/", maxsplit=1)[0]
        seen = {f["forecast_id"] for f in response.json()["forecasts"]}
        shown = {
            i for i, r in state.forecasts.forecasts.items() if party == "qatar" or party in r.shared_with
        }
        assert seen == shown
        assert all(("shared_with" in f) is (party == "qatar") for f in response.json()["forecasts"])
    elif member in MEDIATOR_STAFF:
        assert response.status_code == (201 if endpoint == "request" else 200), response.text
        assert sandbox.store.size(TRACK) == size + (endpoint == "request")
    else:
        assert response.status_code == 403, response.text
        assert problem_slug(response) == "not-authorized"
        assert "only a principal or delegate of the mediator party may" in response.json()["detail"]
        assert sandbox.store.size(TRACK) == size
        assert "salience" not in response.text  # no declared position leaks into a refusal


@pytest.mark.parametrize("track", [TRACK, OTHER])
@pytest.mark.parametrize("member", list(MEMBERS))
def test_coordination_read_matrix(sandbox: World, member: str, track: str) -> None:
    """``GET .../coordination``: the mediator's members only; to anyone else the log does not exist."""
    resource = _fresh("room:")
    sandbox.must(MEMBERS["qatar/principal"], "register_resource", _resource_body(resource))
    response = sandbox.request(MEMBERS[member], "GET", f"/v1/tracks/{track}/coordination")
    reader = reader_of(member, track)
    if reader is not None and reader.split("/")[0] in {"qatar", "oman"}:
        assert response.status_code == 200, response.text
        resources = {r["resource_id"] for r in response.json()["resources"]}
        assert (resource in resources) == (track == TRACK)
        return
    assert response.status_code in {401, 403, 404}, response.text
    assert resource not in response.text
    assert "resources" not in response.json()


SHARED_EDITORS = frozenset({"qatar/principal", "usa/principal", "usa/delegate", *_IRAN})


@pytest.mark.parametrize("member", list(MEMBERS))
def test_text_edits_under_the_shared_policy(sandbox: World, member: str) -> None:
    """Under ``shared``, delegation principals and delegates edit too; a stale edit is a 409 naming the current."""
    _text_policy(sandbox, "shared")
    version = _text_doc(sandbox)
    body = {"doc": "matrix-doc", "base_version": version, "text": _fresh("shared edit ")}
    response = sandbox.run(MEMBERS[member], "edit_text", body)
    if member not in SHARED_EDITORS:
        assert response.status_code == 403, response.text
        assert problem_slug(response) == "not-authorized"
        assert "under the shared text policy" in response.json()["detail"]
        return
    assert response.status_code == 201, response.text
    stale = sandbox.run(MEMBERS[member], "edit_text", {**body, "text": _fresh("stale edit ")})
    assert stale.status_code == 409, stale.text
    assert problem_slug(stale) == "stale-text-version"
    assert stale.json()["current"] == version + 1


@pytest.mark.parametrize("command", ["submit_message", "forward_message", "propose_agenda"])
@pytest.mark.parametrize("member", list(MEMBERS))
def test_commands_on_a_track_the_member_does_not_belong_to(sandbox: World, member: str, command: str) -> None:
    body = {
        "submit_message": statement("elsewhere"),
        "forward_message": {"message_id": "ab" * 32, "to_parties": ["usa"]},
        "propose_agenda": {"agenda": Agenda(1, AGENDA.issues).to_dict()},
    }[command]
    size = sandbox.store.size(OTHER)
    response = sandbox.run(MEMBERS[member], command, body, OTHER)
    # the command names a track-1 member; the key is not that member's in oslo (the node key is
    # oman/service there, not qatar/service), so the transport signature is refused
    assert response.status_code == 401, response.text
    assert problem_slug(response) == "unauthenticated"
    assert sandbox.store.size(OTHER) == size


def test_idempotency_keys_are_per_member(sandbox: World) -> None:
    """Iran reusing USA's idempotency key gets its own result, never USA's events."""
    usa, iran = MEMBERS["usa/principal"], MEMBERS["iran/principal"]
    key = _fresh("shared-key-")
    first = sandbox.run(usa, "submit_message", statement("usa secret"), idempotency_key=key)
    assert first.status_code == 201, first.text
    second = sandbox.run(iran, "submit_message", statement("iran text"), idempotency_key=key)
    assert second.status_code == 201, second.text
    assert second.json()["replayed"] is False
    assert "usa secret" not in second.text
