"""Issue #8, attacked as an outsider would: real uvicorn servers on 127.0.0.1, real sockets.

Per-key replay budgets, replay across a restart, admission of track openers,
per-member stream limits, header timeouts, and the 404 of an unknown escrow.
"""

import contextlib
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.api import create_app
from backchannel.api.errors import PROBLEM_BASE
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.node import Node, open_node
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW, sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.service.log import LogWriter
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.shared_nodes import Redirect
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)
START = datetime(2026, 1, 1, tzinfo=UTC)


def request(
    url: str,
    who: KeyPair,
    path: str,
    *,
    created: datetime,
    origin: str | None = None,
    nonce: str | None = None,
    method: str = "GET",
) -> httpx.Response:
    headers = signed_headers(origin or url, who, path, created=created, nonce=nonce, method=method)
    return httpx.request(method, url + path, headers=headers, timeout=10)


def signed_headers(
    origin: str, who: KeyPair, path: str, *, created: datetime, nonce: str | None = None, method: str = "GET"
) -> dict[str, str]:
    return sign_request(
        method, origin + path, {}, b"", key=who.signing, created=created, nonce=nonce or secrets.token_hex(12)
    )


def open_track(url: str, who: KeyPair, track: str, clock: FakeClock | None = None) -> dict[str, Any]:
    with BackchannelClient(url, who.name, who, clock=clock, sleep=lambda _: None) as client:
        service_key = client.service_info()["service_key"]
        return client.execute("open_track", {
            "title": track, "principal_key": new_key(who), "service_key": {**service_key, "expires_at": None},
        }, track=track)  # fmt: skip


@contextlib.contextmanager
def sqlite_tracks(path: Path, clock: FakeClock) -> Iterator[TrackService]:
    store = SQLiteEventStore(path)
    try:
        yield TrackService(LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock), NODE, clock=clock)
    finally:
        store.close()


# --- high: one replay cache for everyone --------------------------------------------------------


def test_issue_8_one_key_spends_only_its_own_replay_budget(tmp_path: Path) -> None:
    clock = FakeClock(START)
    replay = ReplayWindow(DEFAULT_MAX_SKEW, per_key=5, per_track=50)
    with (
        sqlite_tracks(tmp_path / "db.sqlite3", clock) as tracks,
        running(lambda url: create_app(tracks, public_origin=url, clock=clock, replay=replay)) as url,
    ):
        open_track(url, QATAR, "track-a", clock)
        open_track(url, USA, "track-b", clock)
        clock.advance(timedelta(seconds=301))  # the openings' nonces have left the window
        now = clock.now()
        future = now + timedelta(seconds=295)  # as the attacker did: created 295 s ahead
        flood = [request(url, QATAR, "/v1/tracks/track-a/checkpoint", created=future) for _ in range(6)]
        assert [r.status_code for r in flood] == [200] * 5 + [429]
        refused = flood[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"] == PROBLEM_BASE + "rate-limited"
        # the truth: its oldest nonce (created now + 295 s) leaves the window at now + 595 s
        assert refused.headers["Retry-After"] == "595"
        assert problem["retry_after"] == 595
        assert problem["limit"] == 5
        assert f"key {QATAR.signing.key_id} of track 'track-a'" in problem["detail"]
        # another key on another track is not affected at all: it has its whole budget of 5
        for _ in range(5):
            assert request(url, USA, "/v1/tracks/track-b/checkpoint", created=now).status_code == 200
        clock.advance(timedelta(seconds=596))  # the budget has room again when its nonces leave
        assert request(url, QATAR, "/v1/tracks/track-a/checkpoint", created=clock.now()).status_code == 200
        assert replay.statistics().budget_refusals == 1


def test_issue_8_a_track_cannot_multiply_its_budget_with_more_keys(tmp_path: Path) -> None:
    clock = FakeClock(START)
    replay = ReplayWindow(DEFAULT_MAX_SKEW, per_key=100, per_track=3)
    with (
        sqlite_tracks(tmp_path / "db.sqlite3", clock) as tracks,
        running(lambda url: create_app(tracks, public_origin=url, clock=clock, replay=replay)) as url,
    ):
        open_track(url, QATAR, "track-a", clock)
        open_track(url, USA, "track-b", clock)
        clock.advance(timedelta(seconds=301))
        now = clock.now()
        statuses = [
            request(url, QATAR, "/v1/tracks/track-a/checkpoint", created=now).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        assert request(url, USA, "/v1/tracks/track-b/checkpoint", created=now).status_code == 200


# --- low: replay after a restart ------------------------------------------------------------------

ORIGIN = "http://backchannel.test"  # the same public origin across restarts (ports differ)


@contextlib.contextmanager
def node_server(settings: Settings, **options: Any) -> Iterator[tuple[str, Node]]:
    nodes: list[Node] = []

    def make(_url: str) -> Any:
        node = open_node(settings, host="127.0.0.1", port=0, public_origin=ORIGIN, **options)
        nodes.append(node)
        return node.app

    try:
        with running(make, lifespan=True) as url:
            yield url, nodes[0]
    finally:
        for node in nodes:
            node.close()


def test_issue_8_a_request_captured_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path / "node")
    admission = Admission([QATAR.signing.key_id])
    path = "/v1/tracks/doha/checkpoint"
    with node_server(settings, admission=admission) as (url, node):
        from backchannel.protocol.wire import sign_command
        from backchannel.testing.world import opening

        for signer, command, body in opening(QATAR, node.keys, [], agenda=None):
            node.tracks.execute(sign_command(
                signer.signing, track="doha", command=command, member=signer.name, body=body,
                issued_at=datetime.now(UTC), nonce=secrets.token_hex(8),
            ))  # fmt: skip
        captured = signed_headers(ORIGIN, QATAR, path, created=datetime.now(UTC))
        assert httpx.get(url + path, headers=captured, timeout=10).status_code == 200
        again = httpx.get(url + path, headers=captured, timeout=10)
        assert again.status_code == 401  # a replay within one run
        # a client whose clock runs 2 minutes fast (within the allowed skew)
        ahead = signed_headers(ORIGIN, QATAR, path, created=datetime.now(UTC) + timedelta(seconds=120))
        assert httpx.get(url + path, headers=ahead, timeout=10).status_code == 200
    with node_server(settings, admission=admission) as (url, _):
        replayed = httpx.get(url + path, headers=captured, timeout=10)
        assert replayed.status_code == 401, replayed.text
        assert "before this service started" in replayed.json()["detail"]
        replayed_ahead = httpx.get(url + path, headers=ahead, timeout=10)
        assert replayed_ahead.status_code == 401, replayed_ahead.text  # its created is still to come
        assert "before this service restarted" in replayed_ahead.json()["detail"]
        # the restarted node serves new requests: the fast client's next one is later than its mark
        later = request(url, QATAR, path, created=datetime.now(UTC) + timedelta(seconds=125), origin=ORIGIN)
        assert later.status_code == 200, later.text


# --- medium: anyone may open tracks ---------------------------------------------------------------


def test_issue_8_only_admitted_keys_open_tracks(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path / "node")
    nodes: list[Node] = []

    def make(url: str) -> Any:
        nodes.append(open_node(settings, host="127.0.0.1", port=0, public_origin=url,
                               admission=Admission([QATAR.signing.key_id])))  # fmt: skip
        return nodes[0].app

    try:
        with running(make) as url:
            with pytest.raises(ProblemError) as refused:
                open_track(url, USA, "usa-track")
            problem = refused.value.problem
            assert (refused.value.status, problem["type"]) == (403, PROBLEM_BASE + "not-admitted")
            assert problem["rule"] == "admission"
            assert USA.signing.key_id in problem["detail"]
            assert "--admit-key" in problem["detail"]
            assert nodes[0].tracks.state("usa-track") is None  # nothing was appended
            assert open_track(url, QATAR, "doha")["replayed"] is False
    finally:
        for node in nodes:
            node.close()


def test_issue_8_a_node_without_admitted_keys_lets_nobody_open_a_track(tmp_path: Path) -> None:
    with node_server(Settings.embedded(tmp_path / "node")) as (url, node):
        assert node.tracks.admission.key_ids == frozenset()
        headers_url = url  # the node checks signatures against ORIGIN; sign for it
        with BackchannelClient(ORIGIN, QATAR.name, QATAR, sleep=lambda _: None,
                               transport=Redirect(headers_url)) as client:  # fmt: skip
            service_key = client.service_info()["service_key"]
            with pytest.raises(ProblemError) as refused:
                client.execute("open_track", {
                    "title": "x", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
                }, track="doha")  # fmt: skip
        assert refused.value.status == 403


# --- low: slow clients ----------------------------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reads until EOF, bounded)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sock.recv(4096) == b"":
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return False


def test_issue_8_sockets_that_never_finish_their_headers_are_closed(tmp_path: Path) -> None:
    clock = FakeClock(START)
    with (
        sqlite_tracks(tmp_path / "db.sqlite3", clock) as tracks,
        running(lambda url: create_app(tracks, public_origin=url, clock=clock), header_timeout=0.5) as url,
    ):
        port = int(url.rsplit(":", 1)[1])
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
        try:
            for index, sock in enumerate(sockets):
                if index % 2:  # half send a partial request; half send nothing at all
                    sock.sendall(b"GET /v1/service HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert all(_closed_within(sock, 5.0) for sock in sockets)
        finally:
            for sock in sockets:
                sock.close()
        # a client that sends its request in time is served, and again on the same connection
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.get("/v1/service").status_code == 200
            time.sleep(0.8)  # longer than the header timeout, shorter than the idle timeout
            assert client.get("/v1/service").status_code == 200


def test_issue_8_a_member_holds_at_most_its_share_of_streams(tmp_path: Path) -> None:
    clock = FakeClock(START)
    with (
        sqlite_tracks(tmp_path / "db.sqlite3", clock) as tracks,
        running(lambda url: create_app(tracks, public_origin=url, clock=clock, streams_per_member=2)) as url,
        httpx.Client(timeout=10) as http,
        contextlib.ExitStack() as streams,
    ):
        open_track(url, QATAR, "doha", clock)
        path = "/v1/tracks/doha/inbox/stream?timeout=30"

        def stream() -> httpx.Response:
            headers = signed_headers(url, QATAR, path, created=clock.now())
            return streams.enter_context(http.stream("GET", url + path, headers=headers))

        held = [stream(), stream()]
        lines = [response.iter_lines() for response in held]  # kept: a dropped iterator closes its stream
        for response, line in zip(held, lines, strict=True):
            assert response.status_code == 200
            assert next(line) == ": stream open"
        refused = stream()
        assert refused.status_code == 429
        refused.read()
        problem = refused.json()
        assert problem["type"] == PROBLEM_BASE + "rate-limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 30  # the earliest stream's end, at most 30 s away
        assert problem["limit"] == 2
        held[0].close()  # one ends: its slot is free again
        deadline = time.monotonic() + 10
        while True:
            again = stream()
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            again.read()
            time.sleep(0.1)
        assert again.status_code == 200


# --- low: messages --------------------------------------------------------------------------------


def test_issue_8_a_skew_error_says_seconds_through_the_server(tmp_path: Path) -> None:
    clock = FakeClock(START)
    with (
        sqlite_tracks(tmp_path / "db.sqlite3", clock) as tracks,
        running(lambda url: create_app(tracks, public_origin=url, clock=clock)) as url,
    ):
        open_track(url, QATAR, "doha", clock)
        late = request(url, QATAR, "/v1/tracks/doha/checkpoint", created=clock.now() - timedelta(hours=1))
        assert late.status_code == 401
        assert "created 3600 s in the past; the window is ±300 s" in late.json()["detail"]
