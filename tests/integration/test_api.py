"""The HTTP API over FastAPI's TestClient: signed requests in, problem+json out (ADR-0012)."""

import json
import secrets
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette wants httpx2; the project pins httpx 0.28 (ADR-0012)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from backchannel.api import create_app
from backchannel.api.app import MAX_BODY_BYTES
from backchannel.api.errors import PROBLEM_BASE
from backchannel.errors import OperationalError, WouldBlock
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.merkle import verify_consistency, verify_inclusion
from backchannel.log.records import LogEntry
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, sign_command
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "us-iran-nuclear"


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
USA_DELEGATE = pair(5, "usa/delegate")
ORIGIN = "http://testserver"
LOG_SIGNER_SEED = b"\x09" * 32


class Api:
    """A TestClient plus helpers that sign commands and requests like a member would."""

    def __init__(self, path: Path) -> None:
        from backchannel.log.checkpoint import NoteSigner

        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(path)
        self.writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(LOG_SIGNER_SEED)), clock=self.clock
        )
        self.service = TrackService(self.writer, NODE, clock=self.clock)
        self.app = create_app(self.service, public_origin=ORIGIN, clock=self.clock)
        self.http = TestClient(self.app, base_url=ORIGIN)

    def signed(
        self, who: KeyPair, command: str, body: dict[str, Any], idem: str | None = None
    ) -> SignedCommand:
        return sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=secrets.token_hex(8), idempotency_key=idem,
        )  # fmt: skip

    def request(
        self,
        who: KeyPair,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        created: datetime | None = None,
        nonce: str | None = None,
        signed_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sig = sign_request(
            method, ORIGIN + path, {}, body if signed_body is None else signed_body,
            key=who.signing, created=created or self.clock.now(), nonce=nonce or secrets.token_hex(12),
        )  # fmt: skip
        return self.http.request(method, path, content=body, headers={**sig, **(headers or {})})

    def post(self, who: KeyPair, signed: SignedCommand, **kw: Any) -> Any:
        return self.request(
            who, "POST", f"/v1/tracks/{signed.track}/commands", json.dumps(signed.to_dict()).encode(), **kw
        )

    def run(self, who: KeyPair, command: str, body: dict[str, Any], idem: str | None = None) -> Any:
        return self.post(who, self.signed(who, command, body, idem))

    def get(self, who: KeyPair, path: str) -> Any:
        return self.request(who, "GET", path)

    def open(self) -> None:
        service_key = self.http.get("/v1/service").json()["service_key"]
        opened = self.run(QATAR, "open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        })  # fmt: skip
        assert opened.status_code == 201, opened.text
        for party, principal in (("usa", USA), ("iran", IRAN)):
            admitted = self.run(QATAR, "admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name, "principal_key": new_key(principal),
            })  # fmt: skip
            assert admitted.status_code == 201, admitted.text
        assert self.run(QATAR, "propose_agenda", {"agenda": AGENDA.to_dict()}).status_code == 201
        for principal in (USA, IRAN):
            ratified = self.run(
                principal, "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
            )
            assert ratified.status_code == 201, ratified.text

    def proposal(self, who: KeyPair, values: dict[str, Any], idem: str | None = None) -> SignedCommand:
        body = {
            "kind": "proposal", "body": {"values": values}, "priority": "routine",
            "in_reply_to": None, "annexes": [], "agenda_version": 1,
        }  # fmt: skip
        return self.signed(who, "submit_message", body, idem)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path / "db.sqlite3")
    a.open()
    yield a
    a.store.close()


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + slug
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    return problem


def test_a_negotiation_runs_over_http_and_a_retry_returns_the_first_result(api: Api) -> None:
    signed = api.proposal(USA, {"enrichment_cap_pct": 3.67, "sanctions_relief": "tier-1"}, idem="usa-1")
    first = api.post(USA, signed, headers={"Idempotency-Key": "usa-1"})
    assert first.status_code == 201, first.text
    result = first.json()
    assert result["replayed"] is False
    assert [e["type"] for e in result["events"]] == ["message.submitted"]
    assert result["first_index"] == api.store.size(TRACK) - 1
    note = SignedCheckpoint.from_text(result["checkpoint"])
    NoteVerifier.from_vkey(api.writer.log_key).verify(note)
    assert note.checkpoint.size == api.store.size(TRACK)

    again = api.post(USA, signed)  # the same signed command, a fresh transport signature
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["events"] == result["events"]
    assert api.store.size(TRACK) == note.checkpoint.size


def test_visibility_iran_does_not_see_usas_proposal_but_the_mediator_does(api: Api) -> None:
    posted = api.post(USA, api.proposal(USA, {"enrichment_cap_pct": 3.67})).json()
    index = posted["first_index"]

    def seen(who: KeyPair) -> dict[int, dict[str, Any]]:
        response = api.get(who, f"/v1/tracks/{TRACK}/events?after=0&limit=1000")
        assert response.status_code == 200, response.text
        return {e["index"]: e for e in response.json()["entries"]}

    iran, usa, qatar = seen(IRAN), seen(USA), seen(QATAR)
    assert index not in iran
    assert index in usa
    assert index in qatar
    assert len(qatar) == api.store.size(TRACK)
    assert set(iran) < set(qatar)
    # each visible entry carries its salt, and the leaf hash recomputes from it
    entry = usa[index]
    assert (
        LogEntry.from_dict({"signed": entry["signed"], "salt": entry["salt"]}).leaf_hash.hex()
        == entry["leaf_hash"]
    )
    # the witness view: every leaf hash, with no event or salt
    leaves = api.get(IRAN, f"/v1/tracks/{TRACK}/leaves?start=0&end={index + 1}").json()
    assert leaves["leaf_hashes"][index] == entry["leaf_hash"]
    # paging: `next` continues where a page stopped
    page = api.get(QATAR, f"/v1/tracks/{TRACK}/events?after=2&limit=2").json()
    assert [e["index"] for e in page["entries"]] == [2, 3]
    assert page["next"] == 4


def test_checkpoint_and_proofs_verify(api: Api) -> None:
    old = api.get(USA, f"/v1/tracks/{TRACK}/checkpoint").json()
    posted = api.post(USA, api.proposal(USA, {"enrichment_cap_pct": 3.67})).json()
    new = api.get(USA, f"/v1/tracks/{TRACK}/checkpoint").json()
    assert new["log_key"] == api.writer.log_key
    verifier = NoteVerifier.from_vkey(api.writer.log_key)
    old_cp = verifier.verify(SignedCheckpoint.from_text(old["checkpoint"]))
    new_cp = verifier.verify(SignedCheckpoint.from_text(new["checkpoint"]))
    assert new["size"] == new_cp.size > old_cp.size

    index = posted["first_index"]
    leaf = api.get(USA, f"/v1/tracks/{TRACK}/leaves?start={index}&end={index + 1}").json()["leaf_hashes"][0]
    inclusion = api.get(USA, f"/v1/tracks/{TRACK}/proofs/inclusion?index={index}&size={new_cp.size}").json()
    verify_inclusion(
        bytes.fromhex(leaf), index, new_cp.size, [bytes.fromhex(h) for h in inclusion["proof"]], new_cp.root
    )
    consistency = api.get(
        USA, f"/v1/tracks/{TRACK}/proofs/consistency?old={old_cp.size}&new={new_cp.size}"
    ).json()
    verify_consistency(
        old_cp.size, new_cp.size, old_cp.root, new_cp.root, [bytes.fromhex(h) for h in consistency["proof"]]
    )
    assert_problem(
        api.get(USA, f"/v1/tracks/{TRACK}/proofs/inclusion?index={new_cp.size}&size={new_cp.size}"),
        404,
        "not-found",
    )


def test_a_bad_proposal_is_a_422_with_field_level_violations(api: Api) -> None:
    size = api.store.size(TRACK)
    response = api.post(
        USA, api.proposal(USA, {"enrichment_cap_pct": 95, "sanctions_relief": "total", "uranium": 1})
    )
    problem = assert_problem(response, 422, "schema-violation")
    assert [(v["field"], v["rule"]) for v in problem["violations"]] == [
        ("enrichment_cap_pct", "maximum"),
        ("sanctions_relief", "one_of"),
        ("uranium", "unknown_field"),
    ]
    assert all(v["message"] for v in problem["violations"])
    assert api.store.size(TRACK) == size


def test_request_authentication_failures_are_401(api: Api) -> None:
    path = f"/v1/tracks/{TRACK}/checkpoint"
    # a replayed nonce
    assert api.request(USA, "GET", path, nonce="the-same-nonce").status_code == 200
    problem = assert_problem(api.request(USA, "GET", path, nonce="the-same-nonce"), 401, "unauthenticated")
    assert "replayed nonce" in problem["detail"]
    # `created` outside ±300 s, both ways
    for skew in (timedelta(seconds=-301), timedelta(seconds=301)):
        problem = assert_problem(
            api.request(USA, "GET", path, created=api.clock.now() + skew), 401, "unauthenticated"
        )
        assert "skew" in problem["detail"]
    # the request signed by a key other than the command's
    signed = api.proposal(USA, {"enrichment_cap_pct": 3.67})
    assert_problem(api.post(IRAN, signed), 401, "unauthenticated")
    # a key the track does not know
    stranger = KeyPair("usa/nobody", SigningKey.from_seed(b"\x42" * 32), USA.agreement)
    assert_problem(api.request(stranger, "GET", path), 401, "unauthenticated")
    # a body altered after signing
    body = json.dumps(signed.to_dict()).encode()
    tampered = api.request(
        USA, "POST", f"/v1/tracks/{TRACK}/commands", body, signed_body=body.replace(b"3.67", b"3.68")
    )
    assert "Content-Digest" in assert_problem(tampered, 401, "unauthenticated")["detail"]
    # no signature at all
    assert_problem(api.http.get(path), 401, "unauthenticated")
    # a signature for another origin (a Host header cannot make it pass)
    sig = sign_request(
        "GET",
        "http://evil.example" + path,
        {},
        b"",
        key=USA.signing,
        created=api.clock.now(),
        nonce="n-evil-1",
    )
    assert_problem(api.http.get(path, headers={**sig, "Host": "evil.example"}), 401, "unauthenticated")


def test_a_revoked_key_is_403(api: Api) -> None:
    enrolled = api.run(
        USA,
        "enroll_member",
        {"new_member": USA_DELEGATE.name, "role": "delegate", "new_key": new_key(USA_DELEGATE)},
    )
    assert enrolled.status_code == 201, enrolled.text
    assert api.get(USA_DELEGATE, f"/v1/tracks/{TRACK}/checkpoint").status_code == 200
    revoked = api.run(
        USA, "revoke_key", {"subject": USA_DELEGATE.name, "revoked_key_id": USA_DELEGATE.signing.key_id}
    )
    assert revoked.status_code == 201, revoked.text
    problem = assert_problem(
        api.post(USA_DELEGATE, api.proposal(USA_DELEGATE, {"enrichment_cap_pct": 5})), 403, "key-revoked"
    )
    assert USA_DELEGATE.signing.key_id in problem["detail"]
    assert_problem(api.get(USA_DELEGATE, f"/v1/tracks/{TRACK}/checkpoint"), 403, "key-revoked")


def test_unauthorised_and_conflicting_commands(api: Api) -> None:
    assert_problem(api.run(USA, "propose_agenda", {"agenda": AGENDA.to_dict()}), 403, "not-authorized")
    statement = {
        "kind": "statement",
        "body": {"text": "hi"},
        "priority": "routine",
        "in_reply_to": None,
        "annexes": [],
        "agenda_version": None,
    }
    assert api.run(USA, "submit_message", statement, idem="k-1").status_code == 201
    other = {**statement, "body": {"text": "something else"}}
    assert_problem(api.run(USA, "submit_message", other, idem="k-1"), 409, "idempotency-conflict")
    reopened = api.run(
        QATAR, "open_track", {"title": "Again", "principal_key": new_key(QATAR), "service_key": new_key(NODE)}
    )
    assert reopened.status_code == 409, reopened.text


def test_not_found_malformed_and_too_large(api: Api) -> None:
    assert_problem(api.get(USA, "/v1/tracks/no-such-track/checkpoint"), 404, "not-found")
    assert_problem(api.http.get("/v1/nowhere"), 404, "not-found")
    elsewhere = sign_command(USA.signing, track="no-such-track", command="ratify_agenda", member=USA.name,
                             body={"version": 1, "agenda_digest": "00" * 32}, issued_at=api.clock.now(), nonce="nonce-elsewhere")  # fmt: skip
    assert_problem(api.post(USA, elsewhere), 404, "not-found")

    path = f"/v1/tracks/{TRACK}/commands"
    assert_problem(api.request(USA, "POST", path, b"{not json"), 400, "malformed-request")
    assert_problem(api.request(USA, "POST", path, b'{"payload": {}, "sig": ""}'), 400, "malformed-request")
    signed = api.proposal(USA, {"enrichment_cap_pct": 3.67}, idem="abc")
    assert_problem(api.post(USA, signed, headers={"Idempotency-Key": "xyz"}), 400, "malformed-request")
    assert_problem(
        api.request(USA, "POST", "/v1/tracks/other-track/commands", json.dumps(signed.to_dict()).encode()),
        400,
        "malformed-request",
    )
    assert_problem(api.get(USA, f"/v1/tracks/{TRACK}/events?after=-1"), 422, "invalid-parameter")

    huge = b"x" * (MAX_BODY_BYTES + 1)
    assert_problem(api.request(USA, "POST", path, huge), 413, "payload-too-large")


def test_transient_and_internal_errors(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    signed = api.proposal(USA, {"enrichment_cap_pct": 3.67})

    def busy(_: Sequence[Any]) -> Any:
        raise OperationalError("database is locked")

    monkeypatch.setattr(api.service, "execute_decoded", busy)
    response = api.post(USA, signed)
    assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"] == "1"

    def full(_: Sequence[Any]) -> Any:
        raise WouldBlock("queue full", retry_after=2.2, queued=10, limit=10)

    monkeypatch.setattr(api.service, "execute_decoded", full)
    response = api.post(USA, signed)
    assert_problem(response, 429, "would-block")
    assert response.headers["retry-after"] == "3"

    def broken(_: Sequence[Any]) -> Any:
        raise RuntimeError("secret internals at /srv/db")

    monkeypatch.setattr(api.service, "execute_decoded", broken)
    with TestClient(api.app, base_url=ORIGIN, raise_server_exceptions=False) as http:
        api.http = http
        response = api.post(USA, signed)
    problem = assert_problem(response, 500, "internal")
    assert "secret" not in response.text
    assert "RuntimeError" not in problem["detail"]


def test_the_openapi_document_loads(api: Api) -> None:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/v1/tracks/{track}/commands",
        "/v1/tracks/{track}/events",
        "/v1/tracks/{track}/leaves",
        "/v1/tracks/{track}/checkpoint",
        "/v1/tracks/{track}/proofs/inclusion",
        "/v1/tracks/{track}/proofs/consistency",
        "/v1/service",
    } <= set(schema["paths"])
    body = schema["paths"]["/v1/tracks/{track}/commands"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SignedCommand"}
    assert "CommandPayloadModel" in schema["components"]["schemas"]
    import schemathesis

    loaded = schemathesis.openapi.from_dict(schema)
    assert len(list(loaded.get_all_operations())) >= 7


def test_service_info_names_the_node_and_log_keys(api: Api) -> None:
    info = api.http.get("/v1/service").json()
    assert info["service_key"]["key_id"] == NODE.signing.key_id
    assert info["log_key"] == api.writer.log_key
