"""Batch-signed envelopes end to end (ADR-0051) against a real server on 127.0.0.1.

100 messages submitted under one signature, relayed by the mediator under one
signature, delivered, receipted in a batch under one signature; the receipt
proofs, the offline export verification and the replay of every embedded
command all pass. Then every refusal of ``.../commands/batch-signed``.
"""

import base64
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backchannel.api import create_app
from backchannel.cli.main import app
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError, receipt_digest
from backchannel.sdk.inbox import receipt_items
from backchannel.service.export import export_track, verify_export
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "batch-talks"
LOG_KEY = SigningKey.from_seed(b"\x0b" * 32)
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


@dataclass
class Server:
    url: str
    writer: LogWriter
    store: SQLiteEventStore

    def client(self, keys: KeyPair, *, pin: bool = True) -> BackchannelClient:
        return BackchannelClient(
            self.url,
            keys.name,
            keys,
            pinned_log_key=self.writer.log_key if pin else None,
            sleep=lambda _: None,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY))
    try:
        with running(lambda url: create_app(TrackService(writer, NODE), public_origin=url)) as url:
            server = Server(url, writer, store)
            open_track(server)
            yield server
    finally:
        store.close()


def open_track(server: Server) -> None:
    with server.client(QATAR, pin=False) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Batches", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name, "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


def proposal(cap: float) -> dict[str, JSONValue]:
    return {
        "kind": "proposal", "body": {"values": {"enrichment_cap_pct": cap}}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": 1,
    }  # fmt: skip


def created(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert [r["status"] for r in results] == [201] * len(results), results[:3]
    return [r["result"] for r in results]


def test_a_hundred_messages_submitted_relayed_delivered_and_receipted_in_batches(
    server: Server, tmp_path: Path
) -> None:
    with server.client(USA) as usa, server.client(QATAR) as qatar, server.client(IRAN) as iran:
        submitted = created(
            usa.submit_batch([("submit_message", proposal(i / 10)) for i in range(100)], track=TRACK)
        )
        message_ids = [r["events"][0]["command_digest"] for r in submitted]
        assert len(set(message_ids)) == 100

        relays = qatar.sign_batch(
            [("forward_message", {"message_id": m, "to_parties": ["iran"]}) for m in message_ids], track=TRACK
        )
        assert len({r.signature for r in relays}) == 1  # one signature for the hundred relays
        created(qatar.send_signed_batch(relays))
        assert all(r["replayed"] for r in [x["result"] for x in qatar.send_signed_batch(relays)])  # a retry

        deliveries: list[dict[str, Any]] = []
        receipt_batches = 0
        for _ in range(20):  # bounded: a lease returns at most the credit (prefetch) unsettled
            leased = iran.inbox.lease(TRACK)
            if not leased:
                break
            deliveries += leased
            # the leased deliveries receipted by records of 25 items each, all under one signature
            receipts = []
            for start in range(0, len(leased), 25):
                items = receipt_items(leased[start : start + 25])
                body: dict[str, JSONValue] = {
                    "items": [item.to_json() for item in items], "receipt_digest": receipt_digest(items).hex(),
                }  # fmt: skip
                receipts.append(("record_receipt", body))
            created(iran.submit_batch(receipts, track=TRACK))
            receipt_batches += len(receipts)
        assert sorted(d["message_id"] for d in deliveries) == sorted(message_ids)

        for message_id in (message_ids[0], message_ids[57], message_ids[-1]):
            [proof] = usa.log.receipt_proofs(TRACK, message_id)
            assert proof.settled

    # every entry of a batched command carries its own proof, and verifies alone
    entries = [stored.decode() for stored in server.store.read(TRACK, 0, server.store.size(TRACK))]
    commands = [e.signed.event.body.get("command") for e in entries]
    batched = [c for c in commands if isinstance(c, dict) and "batch" in c]
    assert len(batched) == 100 + 100 + receipt_batches
    assert replay(server.store, TRACK).track == TRACK  # every embedded signature and decision re-checked
    export = tmp_path / "track.jsonl"
    export_track(server.store, TRACK, export)
    assert verify_export(export, server.writer.log_key).report.size == server.store.size(TRACK)
    result = CliRunner().invoke(
        app, ["log", "verify", str(export), "--log-key", server.writer.log_key, "-j", "1", "--commands"]
    )
    assert result.exit_code == 0, result.output
    assert "every embedded command's signature verifies" in result.output


def post(client: BackchannelClient, commands: list[dict[str, Any]]) -> dict[str, Any]:
    body = canonicalize({"commands": commands})
    response = client.send("POST", f"/v1/tracks/{TRACK}/commands/batch-signed", body=body)
    assert response.status_code in {400, 401, 403, 422}, response.text
    return dict(response.json())


def with_proof(command: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**command, "batch": {**command["batch"], **changes}}


def batch(client: BackchannelClient, n: int) -> list[dict[str, Any]]:
    return [
        c.to_dict()
        for c in client.sign_batch([("submit_message", proposal(i)) for i in range(n)], track=TRACK)
    ]


def violations(problem: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["field"], v["rule"]) for v in problem["violations"]}


def flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_each_refusal_names_the_field_and_the_rule(server: Server) -> None:
    size = server.store.size(TRACK)
    with server.client(USA) as usa, server.client(IRAN) as iran:
        good = batch(usa, 3)

        bad_sig = [with_proof(c, signature=flip(c["batch"]["signature"])) for c in good]
        problem = post(usa, bad_sig)
        assert problem["type"].endswith("verification-failed")
        assert "commands.0.batch.signature: signature rule" in problem["detail"]

        bad_path = [good[0], with_proof(good[1], path=[flip(p) for p in good[1]["batch"]["path"]]), good[2]]
        problem = post(usa, bad_path)
        assert "commands.1.batch.path: inclusion rule" in problem["detail"]

        mixed = [*good[:2], batch(iran, 3)[2]]
        assert {
            ("commands.2.payload.member", "one_author"),
            ("commands.2.payload.key_id", "one_key"),
        } <= violations(post(usa, mixed))

        assert ("commands", "max_batch") in violations(post(usa, good * 342))

        twice = [c.to_dict() for c in usa.sign_batch([("submit_message", proposal(1))] * 2, track=TRACK)]
        twice[1]["payload"] = twice[0]["payload"]  # the same command twice, each "in" the batch
        problem = post(usa, twice)
        assert ("commands.1", "unique") in violations(problem)

        assert ("commands", "complete_batch") in violations(post(usa, good[:2]))
        assert ("commands.0.batch", "batch_signed") in violations(
            post(usa, [usa.sign("submit_message", proposal(1), track=TRACK).to_dict()])
        )

        with pytest.raises(ProblemError) as caught:
            usa.send_signed_batch([SignedCommand.from_dict(c) for c in bad_sig])
        assert caught.value.status == 422
        assert server.store.size(TRACK) == size  # nothing of any refused batch was appended
        created(usa.send_signed_batch([SignedCommand.from_dict(c) for c in good]))
        assert server.store.size(TRACK) == size + 3


def test_submit_batch_signs_one_batch_per_maximum(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("backchannel.sdk.client.MAX_BATCH_SIZE", 40)  # 1,024 in use: the same code path
    with server.client(USA) as usa:
        results = created(usa.submit_batch([("submit_message", proposal(i)) for i in range(90)], track=TRACK))
    assert len(results) == 90
    entries = [stored.decode() for stored in server.store.read(TRACK, 0, server.store.size(TRACK))]
    roots = Counter(
        (c["batch"]["root"], c["batch"]["size"])
        for e in entries
        if isinstance(c := e.signed.event.body.get("command"), dict) and "batch" in c
    )
    assert sorted(roots.values()) == [10, 40, 40]
    assert {size for _, size in roots} == {10, 40}


def test_log_verify_commands_refuses_a_log_that_holds_no_track_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key_file = tmp_path / "alice.key"
    runner = CliRunner()
    for args in (["track", "new", "plain", "-d", data], ["keys", "new", "usa/alice", "--out", key_file]):
        assert runner.invoke(app, [str(a) for a in args]).exit_code == 0
    assert (
        runner.invoke(app, ["log", "register", "plain", "--key", str(key_file), "-d", str(data)]).exit_code
        == 0
    )
    assert runner.invoke(app, ["log", "verify", "--track", "plain", "-d", str(data)]).exit_code == 0
    result = runner.invoke(app, ["log", "verify", "--track", "plain", "-d", str(data), "--commands"])
    assert result.exit_code == 1
    assert "holds no track events" in result.output
