"""Operating the service over real HTTP on 127.0.0.1: /metrics, /healthz, /readyz, GET /v1/tracks, search.

A node (``open_node``, so the start-up integrity check has run) serves a
track ``doha`` (mediator ``qatar``, delegations ``usa`` and ``iran``, a
witness ``guarantor``) and a track ``oslo`` that only ``qatar`` and a second
``usa`` key belong to. USA sends a flash statement, Qatar forwards it to
Iran, Iran leases and receipts it: the scrape then shows the commands by
type, the group commits, the acknowledgement latency of a flash message,
the witness lag and the refusals of unauthenticated requests.
"""

import contextlib
import json
import secrets
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # starlette wants httpx2; the project pins httpx 0.28 (ADR-0012)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from backchannel.api import create_app
from backchannel.cli.main import app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.node import Node, open_node
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW, sign_request
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.service.integrity import check_store
from backchannel.service.log import LogWriter
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import message_body, new_key_json, opening, seeded_keys

QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
GUARANTOR = seeded_keys(5, "guarantor/principal")
OSLO_USA = seeded_keys(6, "usa/principal")
STRANGER = seeded_keys(7, "nobody/principal")


@contextlib.contextmanager
def serving(tmp_path: Path, **options: Any) -> Iterator[tuple[str, Node]]:
    nodes: list[Node] = []

    def make(url: str) -> Any:
        node = open_node(
            Settings.embedded(tmp_path / "node"), host="127.0.0.1", port=0, public_origin=url,
            admission=Admission([QATAR.signing.key_id]), **options,
        )  # fmt: skip
        nodes.append(node)
        return node.app

    try:
        with running(make) as url:
            yield url, nodes[0]
    finally:
        for node in nodes:
            node.close()


def client(url: str, keys: KeyPair) -> BackchannelClient:
    return BackchannelClient(url, keys.name, keys, max_attempts=1)


def build(url: str, node: Node) -> dict[str, Any]:
    """Open both tracks and exchange one flash message; return what the tests check against."""
    with client(url, QATAR) as qatar:
        for signer, command, body in opening(QATAR, node.keys, [USA, IRAN]):
            with client(url, signer) as c:
                c.execute(command, body, track="doha")
        qatar.execute("admit_party", {
            "party": "guarantor", "kind": "witness", "principal": GUARANTOR.name,
            "principal_key": new_key_json(GUARANTOR),
        }, track="doha")  # fmt: skip
        for signer, command, body in opening(QATAR, node.keys, [OSLO_USA], agenda=None, title="Oslo"):
            with client(url, signer) as c:
                c.execute(command, body, track="oslo")
        with client(url, USA) as usa:
            sent = usa.execute(
                "submit_message", message_body("statement", {"text": "SECRET-usa-flash"}, priority="flash"),
                track="doha",
            )  # fmt: skip
        message_id = _message_id(sent)
        qatar.execute("forward_message", {"message_id": message_id, "to_parties": ["iran"]}, track="doha")
    with client(url, IRAN) as iran:
        deliveries = iran.inbox.lease("doha")
        assert [d["message_id"] for d in deliveries] == [message_id]
        iran.inbox.settle("doha", deliveries)
    return {"message_id": message_id}


def _message_id(result: dict[str, Any]) -> str:
    for event in result["events"]:
        if event.get("type") == "message.submitted":
            return str(event["command_digest"])
    raise AssertionError(f"no message.submitted in {result}")


def scrape(url: str, **headers: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for got, v in samples.get(name, []) if all(got.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {samples.get(name)}"
    return found[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Node, dict[str, Any]]]:
    with serving(tmp_path_factory.mktemp("ops")) as (url, node):
        yield url, node, build(url, node)


def test_metrics_count_what_happened(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, node, _ = world
    unsigned = httpx.get(url + "/v1/tracks/doha/events", timeout=10)
    assert unsigned.status_code == 401
    samples = scrape(url)
    assert value(samples, "backchannel_commands_total", type="submit_message", outcome="appended") == 1
    assert value(samples, "backchannel_commands_total", type="record_receipt", outcome="appended") == 1
    assert value(samples, "backchannel_events_appended_total", type="message.forwarded") == 1
    appends = node.tracks.statistics().appends
    assert value(samples, "backchannel_log_fsyncs_total") == appends > 0
    assert value(samples, "backchannel_group_commits_total") >= 1
    assert value(samples, "backchannel_group_commit_size_count") == value(
        samples, "backchannel_group_commits_total"
    )
    assert value(samples, "backchannel_ack_latency_seconds_count", priority="flash") == 1
    assert value(samples, "backchannel_ack_latency_seconds_count", priority="routine") == 0
    assert value(samples, "backchannel_queue_depth", track="doha", party="iran") == 0
    assert value(samples, "backchannel_queue_in_flight", track="doha", party="iran") == 0
    assert value(samples, "backchannel_queue_credit") == node.delivery.policy.credit
    assert value(samples, "backchannel_dead_letters_total", track="doha", party="iran") == 0
    assert value(samples, "backchannel_escalations_total", track="doha", party="iran") == 0
    assert value(samples, "backchannel_requests_refused_total", reason="unauthenticated", status="401") >= 1
    assert value(samples, "backchannel_sse_clients") == 0
    # doha has a witness that never cosigned: its lag is the whole log; oslo has no witness
    assert value(samples, "backchannel_witness_lag_entries", track="doha") == node.log.store.size("doha")
    assert "oslo" not in {
        labels.get("track") for labels, _ in samples.get("backchannel_witness_lag_entries", [])
    }
    assert value(samples, "backchannel_tracks", state="served") == 2
    assert value(samples, "backchannel_tracks", state="damaged") == 0
    never = value(samples, "backchannel_parties", track="doha", status="never_seen")
    assert never >= 1


def test_health_and_readiness(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, _, _ = world
    assert httpx.get(url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["damaged"] == []
    assert ready.json()["tracks"] == 2


def test_tracks_lists_only_the_callers_tracks_with_its_role(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, node, _ = world
    with client(url, QATAR) as qatar:
        mine = qatar.tracks()
    assert [(t["track"], t["role"], t["party_kind"], t["title"]) for t in mine] == [
        ("doha", "principal", "mediator", "Doha"), ("oslo", "principal", "mediator", "Oslo"),
    ]  # fmt: skip
    assert mine[0]["size"] == node.log.store.size("doha")
    with client(url, USA) as usa:
        assert [(t["track"], t["member"], t["party_kind"]) for t in usa.tracks()] == [
            ("doha", "usa/principal", "delegation")
        ]
    with client(url, GUARANTOR) as witness:
        assert [(t["track"], t["party_kind"]) for t in witness.tracks()] == [("doha", "witness")]
    with client(url, STRANGER) as stranger, pytest.raises(ProblemError) as refused:
        stranger.tracks()
    assert refused.value.status == 401


def test_a_replayed_track_listing_is_refused(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, _, _ = world
    headers = sign_request(
        "GET",
        url + "/v1/tracks",
        {},
        b"",
        key=USA.signing,
        created=datetime.now(UTC),
        nonce=secrets.token_hex(12),
    )
    assert httpx.get(url + "/v1/tracks", headers=headers, timeout=10).status_code == 200
    assert httpx.get(url + "/v1/tracks", headers=headers, timeout=10).status_code == 401


def test_search_filters_what_the_reader_may_see(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, _, built = world
    with client(url, IRAN) as iran:
        everything = iran.log.events("doha")
        submitted = iran.log.search("doha", types=["message.submitted"])
        forwarded = iran.log.search("doha", types=["message.forwarded", "receipt.recorded"])
        by_usa = iran.log.search("doha", member="usa/principal")
        by_qatar = iran.log.search("doha", member="qatar/principal")
        future = iran.log.search("doha", since=datetime.now(UTC) + timedelta(hours=1))
        past = iran.log.search("doha", until=datetime.now(UTC) + timedelta(hours=1))
    assert submitted == []  # USA's original is never delivered to Iran
    assert {e["signed"]["event"]["type"] for e in by_usa} == {"agenda.ratified"}  # public; never its message
    assert [e["signed"]["event"]["type"] for e in forwarded] == ["message.forwarded", "receipt.recorded"]
    assert {e["index"] for e in by_qatar} <= {e["index"] for e in everything}
    assert any(e["signed"]["event"]["type"] == "message.forwarded" for e in by_qatar)
    assert future == []
    assert past == everything
    with client(url, USA) as usa:
        mine = usa.log.search("doha", types=["message.submitted"], member="usa/principal")
    assert len(mine) == 1
    assert built["message_id"] in str(mine[0])


def test_a_malformed_search_names_the_parameter(world: tuple[str, Node, dict[str, Any]]) -> None:
    url, _, _ = world
    with client(url, USA) as usa:
        for name, text in (("since", "yesterday"), ("until", "2026-12-06T19:00:00")):
            request = usa.signed_request("GET", "/v1/tracks/doha/events", params={name: text})
            response = usa.send_request(request)
            assert response.status_code == 400, response.text
            assert response.json()["detail"].startswith(f"{name}:")


def test_metrics_take_a_token_when_one_is_set(tmp_path: Path) -> None:
    with serving(tmp_path, metrics_token="s3cret") as (url, _):
        assert httpx.get(url + "/metrics", timeout=10).status_code == 401
        wrong = httpx.get(url + "/metrics", headers={"authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        assert "backchannel_tracks" in scrape(url, authorization="Bearer s3cret")


def test_metrics_refuse_a_client_that_is_not_loopback(tmp_path: Path) -> None:
    with (
        serving(tmp_path) as (url, node),
        TestClient(node.app, base_url=url, client=("192.0.2.7", 4000)) as remote,
    ):
        refused = remote.get("/metrics")
        assert refused.status_code == 401
        assert "loopback" in refused.json()["detail"]
        assert remote.get("/healthz").status_code == 200
    with serving(tmp_path / "named") as (url, node), TestClient(node.app, base_url=url) as named:
        refused = named.get("/metrics")  # the test client's address is a name, "testclient"
        assert refused.status_code == 401
        assert "testclient" in refused.json()["detail"]


def test_an_app_without_the_integrity_check_is_not_ready(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    try:
        writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)))
        tracks = TrackService(writer, seeded_keys(1, "qatar/service"))
        with running(lambda url: create_app(tracks, public_origin=url)) as url:
            waiting = httpx.get(url + "/readyz", timeout=10)
            assert waiting.status_code == 503
            assert waiting.json()["reason"] == "the start-up integrity check has not run"
            tracks.set_aside(check_store(store))
            assert httpx.get(url + "/readyz", timeout=10).status_code == 200
            store.close()
            closed = httpx.get(url + "/readyz", timeout=10)
            assert closed.status_code == 503
            assert closed.json()["reason"].startswith("the store does not answer")
            assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    finally:
        store.close()


def test_a_damaged_track_is_listed_by_readyz_and_metrics(tmp_path: Path) -> None:
    with serving(tmp_path) as (url, node):
        for signer, command, body in opening(QATAR, node.keys, [USA], agenda=None, title="marker-doha-title"):
            with client(url, signer) as c:
                c.execute(command, body, track="doha")
    database = Settings.embedded(tmp_path / "node").database
    data = bytearray(database.read_bytes())
    at = data.find(b"marker-doha-title")
    assert at >= 0
    data[at + 9] ^= 0x01
    database.write_bytes(bytes(data))
    with serving(tmp_path) as (url, _):
        ready = httpx.get(url + "/readyz", timeout=10)
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        assert [d["track"] for d in body["damaged"]] == ["doha"]
        assert body["damaged"][0]["reason"]
        samples = scrape(url)
        assert value(samples, "backchannel_track_damaged", track="doha") == 1
        assert value(samples, "backchannel_tracks", state="damaged") == 1
        with client(url, QATAR) as qatar:
            with pytest.raises(ProblemError) as refused:
                qatar.tracks()  # its only track is set aside: no track knows the key
            assert refused.value.status == 401


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_track_mine_and_events_search(world: tuple[str, Node, dict[str, Any]], tmp_path: Path) -> None:
    url, _, built = world
    key = tmp_path / "iran.key"
    write_key_file(key, IRAN)
    listed = cli("track", "mine", "--key", str(key), "--server", url, "--json")
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert [(t["track"], t["role"]) for t in document["tracks"]] == [("doha", "principal")]
    table = cli("track", "mine", "--key", str(key), "--server", url)
    assert table.exit_code == 0, table.output
    assert "doha" in table.stdout
    assert "Oslo" not in table.stdout
    found = cli(
        "events", "--key", str(key), "--track", "doha", "--server", url,
        "--type", "message.forwarded", "--since", "2000-01-01T00:00:00", "--json",
    )  # fmt: skip
    assert found.exit_code == 0, found.output
    entries = json.loads(found.stdout)["entries"]
    assert [e["signed"]["event"]["type"] for e in entries] == ["message.forwarded"]
    assert built["message_id"] in json.dumps(entries)
    by_member = cli("events", "--key", str(key), "-t", "doha", "--server", url, "--member", "usa/principal")
    assert by_member.exit_code == 0, by_member.output
    assert "SECRET-usa-flash" not in by_member.stdout  # Iran sees USA's message only as forwarded by Qatar
    bad = cli("events", "--key", str(key), "-t", "doha", "--server", url, "--until", "tomorrow")
    assert bad.exit_code == 1
    assert "--until" in bad.output


def test_a_revoked_key_lists_only_the_tracks_where_it_is_still_active(tmp_path: Path) -> None:
    delegate = seeded_keys(8, "usa/delegate")
    with serving(tmp_path) as (url, node):
        for track in ("doha", "oslo"):
            for signer, command, body in opening(QATAR, node.keys, [USA], agenda=None, title=track.title()):
                with client(url, signer) as c:
                    c.execute(command, body, track=track)
            with client(url, USA) as usa:
                enrol = {"new_member": delegate.name, "role": "delegate", "new_key": new_key_json(delegate)}
                usa.execute("enroll_member", enrol, track=track)
        with client(url, delegate) as d:
            assert [t["track"] for t in d.tracks()] == ["doha", "oslo"]
            with client(url, USA) as usa:
                revoke = {"subject": delegate.name, "revoked_key_id": delegate.signing.key_id}
                usa.execute("revoke_key", revoke, track="doha")
            assert [t["track"] for t in d.tracks()] == ["oslo"]
            with client(url, USA) as usa:
                usa.execute("revoke_key", revoke, track="oslo")
            assert d.tracks() == []  # known everywhere, active nowhere: an empty list, not a 401


def test_a_listing_spends_the_nonce_budget_of_the_keys_home_track(tmp_path: Path) -> None:
    with serving(tmp_path, replay=ReplayWindow(DEFAULT_MAX_SKEW, per_key=12)) as (url, node):
        for signer, command, body in opening(QATAR, node.keys, [USA], agenda=None):
            with client(url, signer) as c:
                c.execute(command, body, track="doha")
        with client(url, USA) as usa:
            statuses: list[int] = []
            for _ in range(20):
                try:
                    usa.tracks()
                except ProblemError as e:
                    statuses.append(e.status)
                else:
                    statuses.append(200)
            assert 200 in statuses
            assert statuses[statuses.index(429) :] == [429] * (20 - statuses.index(429))
            assert statuses.index(429) <= 12
            with pytest.raises(ProblemError) as also:
                usa.log.events("doha")  # the same key's budget on its home track is spent
            assert also.value.status == 429
        with client(url, QATAR) as qatar:
            assert [t["track"] for t in qatar.tracks()] == ["doha"]  # another key is not affected
