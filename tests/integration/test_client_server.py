"""The SDK against a real uvicorn server on 127.0.0.1 (and against a lying one)."""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.api import create_app
from backchannel.log.checkpoint import Checkpoint, NoteSigner, SignedCheckpoint
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, ForkDetectedError
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-talks"
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


@dataclass
class Server:
    url: str
    writer: LogWriter
    store: SQLiteEventStore

    def client(
        self, keys: KeyPair, *, pin: bool = True, transport: httpx.BaseTransport | None = None
    ) -> BackchannelClient:
        return BackchannelClient(
            self.url, keys.name, keys, transport=transport,
            pinned_log_key=self.writer.log_key if pin else None, sleep=lambda _: None,
        )  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY))
    try:
        with running(lambda url: create_app(TrackService(writer, NODE), public_origin=url)) as url:
            yield Server(url, writer, store)
    finally:
        store.close()


def open_track(server: Server) -> None:
    with server.client(QATAR, pin=False) as qatar:  # trust on first use of /v1/service's log key
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name, "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
        assert qatar.log.checkpoint(TRACK).size == server.store.size(TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


def proposal(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "proposal",
        "body": {"values": values},
        "priority": "routine",
        "in_reply_to": None,
        "annexes": [],
        "agenda_version": 1,
    }


def test_a_client_opens_proposes_reads_and_verifies(server: Server) -> None:
    open_track(server)
    with server.client(USA) as usa, server.client(IRAN) as iran:
        first = usa.log.checkpoint(TRACK)
        result = usa.execute("submit_message", proposal({"enrichment_cap_pct": 3.67}), track=TRACK)
        assert result["replayed"] is False
        index = result["first_index"]

        entries = {e["index"]: e for e in usa.log.events(TRACK)}
        assert index in entries
        assert index not in {e["index"] for e in iran.log.events(TRACK)}
        assert [e["index"] for e in usa.log.events(TRACK, after=index)] == [index]

        checkpoint = usa.log.verify_inclusion(TRACK, index, entries[index]["leaf_hash"])
        assert checkpoint.size == server.store.size(TRACK) > first.size
        usa.execute("submit_message", proposal({"enrichment_cap_pct": 4}), track=TRACK)
        assert usa.log.checkpoint(TRACK).size == checkpoint.size + 1  # consistency from the last one verified


def flaky(
    inner: httpx.BaseTransport, fail: Callable[[httpx.Request, int], httpx.Response | None]
) -> httpx.MockTransport:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if (canned := fail(request, calls["n"])) is not None:
            return canned
        response = inner.handle_request(request)
        response.read()
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    return httpx.MockTransport(handle)


def test_a_lost_response_is_retried_with_the_same_command(server: Server) -> None:
    open_track(server)
    inner = httpx.HTTPTransport()
    seen: list[tuple[bytes, str]] = []

    def lose_first_response(request: httpx.Request, n: int) -> httpx.Response | None:
        seen.append((request.content, request.headers["signature-input"]))
        if n == 1:
            inner.handle_request(request).read()  # the server executes it; the reply is lost
            raise httpx.ReadError("connection reset", request=request)
        if n == 2:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"type": "about:blank"})
        return None

    with server.client(USA, transport=flaky(inner, lose_first_response)) as usa:
        size = server.store.size(TRACK)
        result = usa.execute("submit_message", proposal({"enrichment_cap_pct": 3.67}), track=TRACK)
    assert result["replayed"] is True  # the third attempt found the first one's result
    assert server.store.size(TRACK) == size + 1
    assert len(seen) == 3
    assert len({body for body, _ in seen}) == 1  # the same signed command each time
    assert len({sig for _, sig in seen}) == 3  # a fresh RFC 9421 nonce each time
    inner.close()


def test_a_forked_checkpoint_is_caught_with_both_notes_as_evidence(server: Server) -> None:
    open_track(server)
    inner = httpx.HTTPTransport()
    lying = {"on": False}

    def fork(request: httpx.Request, _: int) -> httpx.Response | None:
        if not (lying["on"] and request.url.path.endswith("/checkpoint")):
            return None
        honest = inner.handle_request(request)
        honest.read()
        answer = honest.json()
        real = SignedCheckpoint.from_text(answer["checkpoint"]).checkpoint
        forged = NoteSigner("test.log", LOG_KEY).sign(Checkpoint(real.origin, real.size, b"\xee" * 32))
        return httpx.Response(200, json={**answer, "checkpoint": forged.to_text()})

    with server.client(USA, transport=flaky(inner, fork)) as usa:
        honest = usa.log.checkpoint(TRACK)
        lying["on"] = True
        with pytest.raises(ForkDetectedError) as info:
            usa.log.checkpoint(TRACK)
    assert SignedCheckpoint.from_text(info.value.old_note).checkpoint == honest
    forged = SignedCheckpoint.from_text(info.value.new_note).checkpoint
    assert forged.size == honest.size
    assert forged.root != honest.root
    assert info.value.old_note in str(info.value)
    assert info.value.new_note in str(info.value)
    inner.close()


# --- batches and group commit ------------------------------------------------------------------


def test_a_batch_runs_each_command_as_if_alone_in_one_append(server: Server) -> None:
    open_track(server)
    size, checkpoints = server.store.size(TRACK), len(list(server.store.checkpoints(TRACK)))
    with server.client(USA) as usa:
        results = usa.execute_many(
            [
                ("submit_message", proposal({"enrichment_cap_pct": 3.67})),
                ("submit_message", proposal({"enrichment_cap_pct": 300})),
                ("submit_message", proposal({"enrichment_cap_pct": 4.5})),
            ],
            track=TRACK,
        )
        assert [r["status"] for r in results] == [201, 422, 201]
        refused = results[1]["problem"]
        assert refused["type"].endswith("/schema-violation")
        assert [v["field"] for v in refused["violations"]] == ["enrichment_cap_pct"]
        assert [r["result"]["first_index"] for r in (results[0], results[2])] == [size, size + 1]
        assert results[0]["result"]["checkpoint"] == results[2]["result"]["checkpoint"]
        assert len(list(server.store.checkpoints(TRACK))) == checkpoints + 1
        entries = {e["index"]: e for e in usa.log.events(TRACK, after=size)}
        for result in (results[0], results[2]):
            index = result["result"]["first_index"]
            usa.log.verify_inclusion(TRACK, index, entries[index]["leaf_hash"])


def test_a_retried_batch_returns_the_first_results_and_appends_nothing(server: Server) -> None:
    open_track(server)
    with server.client(USA) as usa:
        signed = [
            usa.sign(
                "submit_message",
                proposal({"enrichment_cap_pct": 3.0 + i}),
                track=TRACK,
                idempotency_key=f"b-{i}",
            )
            for i in range(3)
        ]
        first = usa.send_batch(signed)
        size = server.store.size(TRACK)
        again = usa.send_batch(signed)
    assert [r["status"] for r in first] == [201, 201, 201]
    assert [r["status"] for r in again] == [200, 200, 200]
    assert [r["result"]["events"] for r in again] == [r["result"]["events"] for r in first]
    assert server.store.size(TRACK) == size


def batch_request(client: BackchannelClient, body: Any, track: str = TRACK) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.send("POST", f"/v1/tracks/{track}/commands/batch", body=content)


def test_a_malformed_batch_is_refused_whole_naming_the_field(server: Server) -> None:
    open_track(server)
    size = server.store.size(TRACK)
    with server.client(USA) as usa, server.client(IRAN) as iran:
        mine = usa.sign("submit_message", proposal({"enrichment_cap_pct": 3.0}), track=TRACK).to_dict()
        theirs = iran.sign("submit_message", proposal({"enrichment_cap_pct": 3.0}), track=TRACK).to_dict()
        opening = usa.sign("open_track", {"title": "x"}, track=TRACK).to_dict()
        cases: list[tuple[Any, str]] = [
            (b"{not json", "JSON"),
            ([mine], "exactly one field, 'commands'"),
            ({"commands": []}, "commands: expected a list of 1 to 1024"),
            ({"commands": [mine] * 1025}, "commands: expected a list of 1 to 1024"),
            ({"commands": [mine, {"payload": {}, "sig": ""}]}, "commands.1: not a signed command"),
            ({"commands": [mine, theirs]}, "commands.1: signed by iran/principal"),
            ({"commands": [opening]}, "commands.0: open_track cannot be batched"),
        ]
        for body, detail in cases:
            response = batch_request(usa, body)
            assert response.status_code == 400, response.text
            assert detail in response.json()["detail"]
        wrong_track = batch_request(usa, {"commands": [mine]}, track="other-track")
        assert wrong_track.status_code == 400
        assert "commands.0: the command is for track 'doha-talks'" in wrong_track.json()["detail"]
        # the request is signed by usa, the commands by iran: not usa's to send
        forged = batch_request(usa, {"commands": [theirs]})
        assert forged.status_code == 401, forged.text
        huge = batch_request(usa, b" " * (8 * 1024 * 1024 + 1))
        assert huge.status_code == 413
    assert server.store.size(TRACK) == size


def test_concurrent_commands_are_each_logged_exactly_once(server: Server) -> None:
    open_track(server)
    size = server.store.size(TRACK)
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            with server.client(USA if worker % 2 else IRAN) as client:
                for i in range(5):
                    client.execute(
                        "submit_message", proposal({"enrichment_cap_pct": worker + i / 10}), track=TRACK
                    )
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert server.store.size(TRACK) == size + 30
    with server.client(QATAR) as qatar:
        assert qatar.log.checkpoint(TRACK).size == size + 30
