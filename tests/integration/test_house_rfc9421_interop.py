"""Interoperability with a third-party RFC 9421 implementation (``http-message-signatures`` 3.0.0).

Requests that library signs (Ed25519, the components the server requires:
``@method``, ``@target-uri`` and ``content-digest``; ``created``, ``keyid``,
``alg``, ``nonce``, ``tag``) are accepted by a real server on 127.0.0.1, and
the requests the SDK sends verify with that library's verifier. The library
reads the wall clock, so everything here signs with the system clock.
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from backchannel.api import create_app
from backchannel.clock import SystemClock
from backchannel.log.canonical import canonicalize
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.sdk import BackchannelClient
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "interop"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
REQUIRED = ("@method", "@target-uri", "content-digest")


class Keys(HTTPSignatureKeyResolver):
    """The library's key resolver over our key pairs (key id -> Ed25519 key)."""

    def __init__(self, *pairs: KeyPair) -> None:
        self.by_id = {p.signing.key_id: p for p in pairs}

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.by_id[key_id].signing.private_bytes_unsafe())

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        known = self.by_id.get(key_id)
        return (
            None
            if known is None
            else Ed25519PublicKey.from_public_bytes(known.signing.verifying_key.public_bytes)
        )


@dataclass
class Message:
    """The request shape the library reads and writes: method, absolute URL, headers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    writer = LogWriter(
        SQLiteEventStore(tmp_path / "db.sqlite3"),
        NoteSigner("interop.log", SigningKey.from_seed(b"\x03" * 32)),
    )
    tracks = TrackService(writer, NODE, clock=SystemClock())
    with running(lambda url: create_app(tracks, public_origin=url, tick_interval=None)) as url:
        with BackchannelClient(url, QATAR.name, QATAR) as qatar:
            for who, command, body in opening(QATAR, NODE, (USA,), agenda=None):
                assert who is QATAR
                qatar.execute(command, body, track=TRACK)
        yield url


def library_signed(who: KeyPair, method: str, url: str, body: bytes, *, label: str = "sig1") -> httpx.Request:
    """A request signed by http-message-signatures, as a member would sign it with that library."""
    message = Message(method, url, {"Content-Type": "application/json"} if body else {})
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=Keys(who)).sign(
        message,
        key_id=who.signing.key_id,
        nonce=secrets.token_urlsafe(18),
        tag="backchannel",
        label=label,
        covered_component_ids=REQUIRED[:2],
        body=body,  # adds Content-Digest (sha-256) and covers it
    )
    return httpx.Request(method, url, headers=message.headers, content=body)


def test_a_read_signed_by_the_library_is_accepted(server: str) -> None:
    request = library_signed(USA, "GET", f"{server}/v1/tracks/{TRACK}/events?after=0&limit=10", b"")
    assert "sha-256=" in request.headers["Content-Digest"]
    with httpx.Client() as http:
        response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["size"] >= 3


def test_a_command_signed_by_the_library_is_accepted_and_its_replay_refused(server: str) -> None:
    signed = sign_command(
        USA.signing, track=TRACK, command="submit_message", member=USA.name,
        body={"kind": "statement", "body": {"text": "signed by a third party"}, "priority": "routine",
              "in_reply_to": None, "annexes": [], "agenda_version": None},
        issued_at=SystemClock().now(), nonce=secrets.token_hex(8),
    )  # fmt: skip
    body = canonicalize(signed.to_dict())
    request = library_signed(USA, "POST", f"{server}/v1/tracks/{TRACK}/commands", body, label="pyhms")
    with httpx.Client() as http:
        first = http.send(request)
        again = http.send(request)  # the same nonce: a replay
    assert first.status_code == 201, first.text
    assert first.json()["events"][0]["type"] == "message.submitted"
    assert again.status_code == 401
    assert "replayed nonce" in again.json()["detail"]


def test_a_library_signature_with_a_wrong_key_is_refused(server: str) -> None:
    impostor = KeyPair(USA.name, pair(99, "x").signing, USA.agreement)
    request = library_signed(impostor, "GET", f"{server}/v1/tracks/{TRACK}/events", b"")
    with httpx.Client() as http:
        response = http.send(request)
    assert response.status_code == 401


class Recording(httpx.HTTPTransport):
    """The real transport, keeping a copy of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return super().handle_request(request)


def library_verifies(request: httpx.Request, *, resolver: HTTPSignatureKeyResolver) -> None:
    message = Message(request.method, str(request.url), dict(request.headers))
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    results = verifier.verify(
        message, expect_tag="backchannel", require_components=REQUIRED, body=request.content
    )
    assert [r.parameters["keyid"] for r in results] == [USA.signing.key_id]


def test_requests_the_sdk_sends_verify_with_the_library(server: str) -> None:
    transport = Recording()
    with BackchannelClient(server, USA.name, USA, transport=transport) as usa:
        usa.log.events(TRACK)  # a GET without a body
        usa.execute(  # a POST with a body
            "submit_message",
            {"kind": "statement", "body": {"text": "hi"}, "priority": "routine", "in_reply_to": None,
             "annexes": [], "agenda_version": None},
            track=TRACK,
        )  # fmt: skip
        usa.inbox.heartbeat(TRACK)
    signed = [r for r in transport.sent if r.url.path.startswith("/v1/tracks/")]
    assert {r.method for r in signed} == {"GET", "POST"}
    for request in signed:
        library_verifies(request, resolver=Keys(USA))


def test_the_library_refuses_an_sdk_request_whose_body_was_altered(server: str) -> None:
    transport = Recording()
    with BackchannelClient(server, USA.name, USA, transport=transport) as usa:
        usa.inbox.heartbeat(TRACK)
    (request,) = [r for r in transport.sent if r.url.path.endswith("/heartbeat")]
    altered = httpx.Request(request.method, request.url, headers=request.headers, content=b'{"x":1}')
    with pytest.raises(InvalidSignature):
        library_verifies(altered, resolver=Keys(USA))
