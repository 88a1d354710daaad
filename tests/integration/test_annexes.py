"""Annexes through a real uvicorn server on 127.0.0.1: upload, fetch, who may read, sealing (ADR-0014).

The world: mediator ``qatar``; delegations ``usa`` and ``iran`` (a principal
and a delegate each); an inspector ``iaea`` that is sent nothing. The server's
annex limit is small (``LIMIT``) so the oversize case is cheap.
"""

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.api import create_app
from backchannel.domain.errors import UnknownPartyError
from backchannel.errors import ConfigurationError, EncodingError, NotFoundError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.annexes import (
    annex_context,
    open_annex,
    party_recipients,
    read_sealed,
    roster,
    seal_annex,
)
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.annexes import AnnexService
from backchannel.service.config import Settings
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-annexes"
LIMIT = 4096
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
USA_DELEGATE = pair(5, "usa/delegate")
IRAN_DELEGATE = pair(6, "iran/delegate")
IAEA = pair(7, "iaea/principal")
SECRET = b"Annex A: the centrifuge inventory, cascade by cascade."


@dataclass
class World:
    url: str
    store: SQLiteEventStore
    log_key: str

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(self.url, keys.name, keys, pinned_log_key=self.log_key, sleep=lambda _: None)

    def run(self, keys: KeyPair, command: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.client(keys) as client:
            return client.execute(command, body, track=TRACK)

    def submit(self, keys: KeyPair, annexes: list[str], text: str = "see the annex") -> str:
        body = {**message_body("statement", {"text": text}), "annexes": list(annexes)}
        return str(self.run(keys, "submit_message", body)["events"][0]["command_digest"])

    def forward(self, message_id: str, *parties: str) -> None:
        self.run(QATAR, "forward_message", {"message_id": message_id, "to_parties": list(parties)})

    def raw(self, keys: KeyPair | None, method: str, path: str, body: bytes = b"") -> httpx.Response:
        """A request signed by ``keys`` (or unsigned), with the body sent as given."""
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        if keys is not None:
            headers |= sign_request(
                method, self.url + path, {}, body,
                key=keys.signing, created=datetime.now(UTC), nonce=secrets.token_hex(12),
            )  # fmt: skip
        return httpx.request(method, self.url + path, content=body, headers=headers)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)))
    tracks = TrackService(writer, NODE)
    try:
        with running(
            lambda url: create_app(tracks, public_origin=url, annexes=AnnexService(tracks, max_bytes=LIMIT))
        ) as url:
            w = World(url, store, writer.log_key)
            for keys, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
                w.run(keys, command, body)
            w.run(QATAR, "admit_party", {"party": "iaea", "kind": "inspector", "principal": IAEA.name, "principal_key": new_key(IAEA)})  # fmt: skip
            for principal, delegate in ((USA, USA_DELEGATE), (IRAN, IRAN_DELEGATE)):
                w.run(principal, "enroll_member", {"new_member": delegate.name, "role": "delegate", "new_key": new_key(delegate)})  # fmt: skip
            yield w
    finally:
        store.close()


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


def test_a_sealed_annex_is_relayed_verbatim_and_only_its_recipients_open_it(world: World) -> None:
    with world.client(USA_DELEGATE) as usa:
        sealed = usa.annexes.upload_sealed(TRACK, SECRET, party="iran")
    assert list(sealed) == ["iran/principal", "iran/delegate"]  # one blob per active member
    message = world.submit(USA_DELEGATE, list(sealed.values()))
    with world.client(IRAN_DELEGATE) as iran:
        for digest in sealed.values():  # not delivered yet: iran cannot even fetch them
            with pytest.raises(ProblemError) as info:
                iran.annexes.fetch(TRACK, digest)
            assert info.value.status == 404
    world.forward(message, "iran")

    with world.client(IRAN_DELEGATE) as iran:
        (delivery,) = iran.inbox.lease(TRACK)
        named = delivery["original"]["payload"]["body"]["annexes"]  # the author's own signed command
        assert named == list(sealed.values())
        assert iran.annexes.open_own(TRACK, named) == SECRET
        assert iran.annexes.open(TRACK, sealed["iran/delegate"]) == SECRET
        with pytest.raises(VerificationError, match="sealed to"):
            iran.annexes.open(TRACK, sealed["iran/principal"])  # its principal's copy, not its own
    with world.client(IRAN) as principal:
        assert principal.annexes.open_own(TRACK, named) == SECRET

    with world.client(QATAR) as qatar:  # the mediator relays and may fetch every blob, but reads none
        for digest in sealed.values():
            blob = qatar.annexes.fetch(TRACK, digest)
            assert SECRET not in blob
            with pytest.raises(VerificationError):
                qatar.annexes.open(TRACK, digest)
        with pytest.raises(NotFoundError, match="sealed to qatar/principal"):
            qatar.annexes.open_own(TRACK, named)


def test_who_may_fetch_an_annex_and_everyone_else_gets_the_unknown_digest_404(world: World) -> None:
    with world.client(USA) as usa:
        forwarded = usa.annexes.upload(TRACK, b"forwarded annex")
        unsent = usa.annexes.upload(TRACK, b"annex of a message never forwarded")
        for_reframe = usa.annexes.upload(TRACK, b"annex the mediator attaches to a reframing")
    world.forward(world.submit(USA, [forwarded]), "iran")
    original = world.submit(USA, [unsent])
    reframe = {"message_id": original, "to_parties": ["iaea"], "body": {"text": "reframed"},
               "annexes": [for_reframe], "agenda_version": None}  # fmt: skip
    world.run(QATAR, "reframe_message", reframe)
    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    readers = {
        forwarded: {"usa", "qatar", "iran"},
        unsent: {"usa", "qatar"},  # named only by a message that was never delivered
        for_reframe: {"usa", "qatar", "iaea"},  # the reframing delivered it to iaea
        unknown: set(),
    }
    for digest, parties in readers.items():
        for keys in (QATAR, USA, USA_DELEGATE, IRAN, IRAN_DELEGATE, IAEA):
            response = world.raw(keys, "GET", f"/v1/tracks/{TRACK}/annexes/{digest}")
            if keys.name.split("/")[0] in parties:
                assert response.status_code == 200, (keys.name, response.text)
                assert hashlib.sha256(response.content).hexdigest() == digest
                assert response.headers["content-type"] == "application/octet-stream"
                assert response.headers["content-digest"].startswith("sha-256=:")
            else:  # no oracle: exactly the answer for a digest nobody uploaded
                body = problem(response, 404, "not-found")
                assert body["detail"] == f"no annex {digest} on track {TRACK!r}", keys.name


def test_uploads_are_content_addressed_idempotent_and_recorded_per_party(world: World) -> None:
    data = b"\x00\xffbinary annex\r\n"
    digest = hashlib.sha256(data).hexdigest()
    path = f"/v1/tracks/{TRACK}/annexes/{digest}"
    first = world.raw(USA, "PUT", path, data)
    assert (first.status_code, first.json()) == (201, {"track": TRACK, "digest": digest, "size": len(data)})
    assert world.raw(USA_DELEGATE, "PUT", path, data).status_code == 200  # same party, same bytes
    assert world.raw(IRAN, "GET", path).status_code == 404
    assert world.raw(IRAN, "PUT", path, data).status_code == 201  # iran holds the bytes: now it may read them
    assert world.raw(IRAN, "GET", path).content == data
    stored = world.store.get_annex(TRACK, bytes.fromhex(digest))
    assert stored is not None
    assert stored.uploaders == ("usa", "iran")


def test_bad_uploads_and_fetches_are_refused_with_problems(world: World) -> None:
    data = b"x" * 100
    digest = hashlib.sha256(data).hexdigest()
    path = f"/v1/tracks/{TRACK}/annexes/{digest}"

    too_big = problem(world.raw(USA, "PUT", path, b"x" * (LIMIT + 1)), 413, "payload-too-large")
    assert too_big["limit"] == LIMIT
    assert too_big["detail"] == f"annex larger than the limit of {LIMIT} bytes"
    assert world.raw(USA, "PUT", f"/v1/tracks/{TRACK}/annexes/{hashlib.sha256(b'y' * LIMIT).hexdigest()}", b"y" * LIMIT).status_code == 201  # fmt: skip

    wrong = problem(world.raw(USA, "PUT", path, b"other bytes"), 422, "schema-violation")
    assert [v["field"] for v in wrong["violations"]] == ["digest"]
    assert hashlib.sha256(b"other bytes").hexdigest() in wrong["detail"]

    for bad in ("AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32):
        for method in ("PUT", "GET"):
            malformed = problem(world.raw(USA, method, f"/v1/tracks/{TRACK}/annexes/{bad}", data), 422, "invalid-parameter")  # fmt: skip
            assert malformed["violations"][0]["field"] == "digest", malformed

    for method in ("PUT", "GET"):
        problem(world.raw(USA, method, f"/v1/tracks/no-such-track/annexes/{digest}", data), 404, "not-found")
        problem(world.raw(None, method, path, data if method == "PUT" else b""), 401, "unauthenticated")
    assert world.store.get_annex(TRACK, bytes.fromhex(digest)) is None  # nothing refused was stored


def test_the_limit_is_one_mebibyte_unless_configured(tmp_path: Path) -> None:
    assert Settings().annex_max_bytes == Settings.embedded(tmp_path).annex_max_bytes == 1 << 20
    assert Settings.embedded(tmp_path, annex_max_bytes=10).annex_max_bytes == 10
    with pytest.raises(ConfigurationError, match="annex_max_bytes must be at least 1"):
        Settings(annex_max_bytes=0)
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    try:
        signer = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
        tracks = TrackService(LogWriter(store, signer), NODE)
        assert AnnexService(tracks).max_bytes == 1 << 20
        with pytest.raises(ConfigurationError, match="at least 1 byte"):
            AnnexService(tracks, max_bytes=0)
    finally:
        store.close()


def test_the_sdk_checks_what_it_fetches_and_seals_to_current_keys_only(world: World) -> None:
    new_iran_delegate = pair(8, "iran/delegate")
    world.run(IRAN, "rotate_key", {"subject": "iran/delegate", "old_key_id": IRAN_DELEGATE.signing.key_id, "new_key": new_key(new_iran_delegate)})  # fmt: skip
    with world.client(USA) as usa:
        state = usa.log.roster(TRACK)
        recipients = party_recipients(state, "iran")
        assert recipients == {
            "iran/principal": IRAN.agreement.public_bytes,
            "iran/delegate": new_iran_delegate.agreement.public_bytes,  # the rotated-out key is never used
        }
        assert "qatar/service" not in party_recipients(state, "qatar")
        with pytest.raises(UnknownPartyError):
            usa.annexes.upload_sealed(TRACK, SECRET, party="oman")
        with pytest.raises(NotFoundError, match=r"no track\.opened"):
            roster([])  # a witness's view: no membership, no keys
        plain = usa.annexes.upload(TRACK, b"plain")
        with pytest.raises(EncodingError, match="not a sealed annex"):
            read_sealed(usa.annexes.fetch(TRACK, plain))
        with pytest.raises(ProblemError) as info:
            usa.annexes.fetch(TRACK, hashlib.sha256(b"nothing").hexdigest())
        assert info.value.status == 404


def test_a_sealed_blob_opens_only_in_its_own_track_and_for_its_own_member() -> None:
    blob = seal_annex(
        SECRET, track=TRACK, member="iran/delegate", x25519=IRAN_DELEGATE.agreement.public_bytes
    )
    assert open_annex(blob, track=TRACK, member="iran/delegate", key=IRAN_DELEGATE.agreement) == SECRET
    assert read_sealed(blob).context == annex_context(TRACK, "iran/delegate")
    with pytest.raises(VerificationError, match="another context"):
        open_annex(blob, track="other-track", member="iran/delegate", key=IRAN_DELEGATE.agreement)
    with pytest.raises(VerificationError, match="sealed to"):
        open_annex(blob, track=TRACK, member="iran/delegate", key=IRAN.agreement)
    again = seal_annex(
        SECRET, track=TRACK, member="iran/delegate", x25519=IRAN_DELEGATE.agreement.public_bytes
    )
    assert again != blob  # a fresh ephemeral key every time
    with pytest.raises(EncodingError, match="not a sealed annex: not UTF-8"):
        read_sealed(b"\xff\xfe")
    with pytest.raises(EncodingError, match="not a sealed annex: sealed annex: missing field"):
        read_sealed(b"{}")
