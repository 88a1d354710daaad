"""Schemathesis over the app's own ``/openapi.json``: no 5xx, responses as documented (ADR-0012).

Every operation ``/openapi.json`` lists is fuzzed (streaming endpoints are
excluded by path: a generated request would hold the stream open). Requests
are signed with RFC 9421 like a real member's (:func:`~backchannel.protocol.httpsig.sign_request`
over the exact method, target URI and body the transport sends), so they get
past authentication and reach the handlers; for commands, a generated payload
is also re-signed as the member's own command half of the time, so the domain
checks see fuzzed bodies too. A second, unsigned pass expects a 401 (or an
earlier 4xx for a malformed request), never a 5xx.

An operation with a ``timeout`` query parameter (a long poll) is sent with
a timeout of at most 0.1 s so that it answers quickly. Every error must be RFC 9457 problem+json whose body fits ``ProblemModel``.
Examples are bounded per operation; under ``CI=true`` the conftest profile
derandomises them.
"""

import json
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

with warnings.catch_warnings():  # starlette wants httpx2; the project pins httpx 0.28 (ADR-0012)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from backchannel.api import create_app
from backchannel.api.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from backchannel.api.schemas import ProblemModel
from backchannel.errors import BackchannelError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import COMMAND_NAMES, agenda_digest, sign_command
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "schema-track"
ORIGIN = "http://testserver"  # schemathesis' ASGI client sends to this host
STREAMING = re.compile(r"/(stream|events/stream|sse)\b")
MAX_EXAMPLES = 25
LONG_POLL = 0.1


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
MEMBERS = (QATAR, USA, IRAN, NODE)


class World:
    """A track with two ratified delegations and two messages (one forwarded), behind the real app."""

    def __init__(self, path: Path) -> None:
        self.clock = FakeClock(autojump=timedelta(milliseconds=10))
        self.store = SQLiteEventStore(path)
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.service = TrackService(writer, NODE, clock=self.clock)
        self.app = create_app(self.service, public_origin=ORIGIN, clock=self.clock)
        self.message_ids: set[str] = set()

    def sign_http(self, who: KeyPair, request: requests.PreparedRequest) -> None:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        assert isinstance(request.method, str)
        sig = sign_request(
            request.method, ORIGIN + request.path_url, {}, body,
            key=who.signing, created=self.clock.now(), nonce=secrets.token_hex(12),
        )  # fmt: skip
        request.headers.update(sig)

    def command(self, who: KeyPair, command: str, body: dict[str, Any]) -> dict[str, Any]:
        return sign_command(
            who.signing, track=TRACK, command=command, member=who.name, body=body,
            issued_at=self.clock.now(), nonce=secrets.token_hex(8),
        ).to_dict()  # fmt: skip

    def build(self) -> None:
        with TestClient(self.app, base_url=ORIGIN) as http:

            def run(who: KeyPair, command: str, body: dict[str, Any]) -> str:
                content = json.dumps(self.command(who, command, body)).encode()
                path = f"/v1/tracks/{TRACK}/commands"
                sig = sign_request(
                    "POST", ORIGIN + path, {}, content,
                    key=who.signing, created=self.clock.now(), nonce=secrets.token_hex(12),
                )  # fmt: skip
                response = http.post(path, content=content, headers=sig)
                assert response.status_code == 201, response.text
                return str(response.json()["events"][0]["command_digest"])

            service_key = http.get("/v1/service").json()["service_key"]
            run(QATAR, "open_track", {
                "title": "Schema", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
            })  # fmt: skip
            for party, principal in (("usa", USA), ("iran", IRAN)):
                run(QATAR, "admit_party", {
                    "party": party, "kind": "delegation", "principal": principal.name,
                    "principal_key": new_key(principal),
                })  # fmt: skip
            run(QATAR, "propose_agenda", {"agenda": AGENDA.to_dict()})
            for principal in (USA, IRAN):
                run(principal, "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()})
            proposal = run(USA, "submit_message", {
                "kind": "proposal", "body": {"values": {"enrichment_cap_pct": 3.67}}, "priority": "routine",
                "in_reply_to": None, "annexes": [], "agenda_version": 1,
            })  # fmt: skip
            statement = run(IRAN, "submit_message", {
                "kind": "statement", "body": {"text": "hello"}, "priority": "routine",
                "in_reply_to": None, "annexes": [], "agenda_version": None,
            })  # fmt: skip
            run(QATAR, "forward_message", {"message_id": proposal, "to_parties": ["iran"]})
            self.message_ids |= {proposal, statement}


class Signer(requests.auth.AuthBase):
    """Sign each prepared request (exact method, path + query and body) as ``who``."""

    def __init__(self, world: World, who: KeyPair) -> None:
        self.world = world
        self.who = who

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.world.sign_http(self.who, request)
        return request


def _streaming(ctx: Any) -> bool:
    operation = ctx.operation
    if STREAMING.search(operation.path):
        return True
    responses = operation.definition.raw.get("responses", {})
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


# The schema must be loaded at collection time: schemathesis' fixture-based loader touches a pytest
# private (`Function._nodeid`) that pytest 9 no longer has. The world the operations run against is
# built once, by the fixture below.
_DIR = Path(tempfile.mkdtemp(prefix="backchannel-schema-"))
WORLD = World(_DIR / "db.sqlite3")
schema = schemathesis.openapi.from_asgi("/openapi.json", WORLD.app).exclude(func=_streaming)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    WORLD.build()
    yield WORLD
    WORLD.store.close()
    shutil.rmtree(_DIR, ignore_errors=True)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def header(response: Any, name: str) -> str | None:
    values = response.headers.get(name.lower())  # schemathesis keeps every value of a field
    return None if not values else str(values[0])


def assert_problem(response: Any) -> None:
    """An error is problem+json whose body fits ProblemModel (the document leaves that media type untyped)."""
    status = response.status_code
    assert header(response, "content-type") == PROBLEM_MEDIA_TYPE, (status, response.text)
    problem = ProblemModel.model_validate(json.loads(response.content))
    assert problem.status == status
    assert problem.type.startswith(PROBLEM_BASE)


def _has_track(case: Any) -> bool:
    return "track" in (case.path_parameters or {})


def _cap_long_poll(case: Any) -> None:
    """An operation with a ``timeout`` query parameter is a long poll: wait at most 0.1 s, not its default."""
    names = {p.name for p in case.operation.query}
    if "timeout" not in names:
        return
    query = dict(case.query or {})
    value = query.get("timeout")
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > LONG_POLL
    ):
        query["timeout"] = LONG_POLL
        case.query = query


# The body fields of each command (ADR-0011); the schema documents the body only as an object.
FIELDS: dict[str, tuple[str, ...]] = {
    "open_track": ("title", "principal_key", "service_key"),
    "admit_party": ("party", "kind", "principal", "principal_key"),
    "enroll_member": ("new_member", "role", "new_key"),
    "rotate_key": ("subject", "old_key_id", "new_key"),
    "revoke_key": ("subject", "revoked_key_id"),
    "propose_agenda": ("agenda",),
    "ratify_agenda": ("version", "agenda_digest"),
    "submit_message": ("kind", "body", "priority", "in_reply_to", "annexes", "agenda_version"),
    "forward_message": ("message_id", "to_parties"),
    "reframe_message": ("message_id", "to_parties", "body", "annexes", "agenda_version"),
    "record_receipt": ("message_ids", "log_index", "receipt_digest"),
    "record_dead_letter": ("message_id", "party", "attempts", "reason"),
    "record_escalation": ("message_id", "party", "level", "to"),
    "define_obligation": (
        "obligation", "party", "metric", "unit", "rate", "burst", "period_seconds", "ladder",
        "hold_seconds", "recovery_pct", "shared_with",
    ),
    "record_consumption": ("obligation", "amount", "unit", "observed_at", "source"),
    "review_obligation": ("obligation",),
}  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_HEX = st.sampled_from(["00" * 32, "ab" * 32]) | st.text("0123456789abcdef", min_size=63, max_size=65)
_PARTIES = st.sampled_from(["usa", "iran", "qatar", "nobody", "USA", ""])
_NAMES = st.sampled_from([m.name for m in MEMBERS] + ["usa/delegate", "usa/", "qatar/service2"])
_KEYS = st.sampled_from([new_key(pair(seed, "k")) for seed in (2, 3, 40, 41)])
_INTS = st.integers(-2, 5)


def _plausible(field: str, world: World) -> st.SearchStrategy[Any]:
    ids = sorted(world.message_ids) or ["00" * 32]
    kinds = ["delegation", "witness", "inspector", "mediator", "proposal", "statement", "counter_proposal"]
    by_field: dict[str, st.SearchStrategy[Any]] = {
        "title": st.text(max_size=250), "reason": st.text(max_size=600),
        "party": _PARTIES, "to": st.lists(_NAMES, max_size=3), "principal": _NAMES, "new_member": _NAMES, "subject": _NAMES,
        "kind": st.sampled_from(kinds), "role": st.sampled_from(["principal", "delegate", "observer", "service"]),
        "principal_key": _KEYS, "service_key": _KEYS, "new_key": _KEYS,
        "old_key_id": st.sampled_from([m.signing.key_id for m in MEMBERS]),
        "revoked_key_id": st.sampled_from([m.signing.key_id for m in MEMBERS]),
        "agenda": st.builds(lambda v: {**AGENDA.to_dict(), "version": v}, _INTS),
        "version": _INTS, "agenda_version": st.none() | _INTS, "log_index": _INTS,
        "attempts": _INTS, "level": _INTS,
        "agenda_digest": _HEX | st.just(agenda_digest(AGENDA).hex()), "receipt_digest": _HEX,
        "priority": st.sampled_from(["routine", "priority", "flash", "urgent"]),
        "message_id": st.sampled_from(ids) | _HEX, "in_reply_to": st.none() | st.sampled_from(ids) | _HEX,
        "message_ids": st.lists(st.sampled_from(ids) | _HEX, max_size=3),
        "to_parties": st.lists(_PARTIES, max_size=3), "annexes": st.lists(_HEX, max_size=2),
        "body": st.fixed_dictionaries({"text": st.text(max_size=30)})
        | st.fixed_dictionaries({"values": st.dictionaries(
            st.sampled_from(["enrichment_cap_pct", "sanctions_relief", "x"]),
            st.floats(-1, 100) | st.sampled_from(["none", "tier-1", "full", "total"]) | _SCALARS,
        )}),
    }  # fmt: skip
    return by_field.get(field, _SCALARS)


def command_bodies(world: World, command: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies with the command's own fields, each plausible (3 in 4) or any JSON scalar."""
    fields = FIELDS.get(command, ())
    return st.fixed_dictionaries({f: st.one_of(*[_plausible(f, world)] * 3, _SCALARS) for f in fields})


def _resign_command(world: World, who: KeyPair, case: Any, command: str, body: dict[str, Any]) -> None:
    """Replace the generated SignedCommand with ``command`` over ``body``, really signed by ``who``."""
    try:
        signed = sign_command(
            who.signing, track=case.path_parameters["track"], command=command,
            member=who.name, body=body, issued_at=world.clock.now(), nonce=secrets.token_hex(8),
        )  # fmt: skip
    except BackchannelError:  # a body the encoder refuses: send it as generated
        return
    case.body = signed.to_dict()
    if case.headers:
        case.headers.pop("Idempotency-Key", None)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_signed_requests_reach_the_handlers_and_never_fail(world: World, case: Any, data: Any) -> None:
    who = data.draw(st.sampled_from(MEMBERS), label="member")
    if _has_track(case) and data.draw(st.booleans(), label="the real track"):
        case.path_parameters["track"] = TRACK
        if case.operation.path.endswith("/commands") and data.draw(st.booleans(), label="re-sign"):
            command = data.draw(st.sampled_from(sorted(COMMAND_NAMES)), label="command")
            body = data.draw(command_bodies(world, command), label="body")
            _resign_command(world, who, case, command, body)
    _cap_long_poll(case)
    session = requests.Session()
    session.auth = Signer(world, who)
    response = case.call(session=session)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert_problem(response)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_unsigned_requests_are_refused(world: World, case: Any) -> None:
    if not _has_track(case):  # /v1/service and other public documents
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        return
    case.path_parameters["track"] = TRACK
    _cap_long_poll(case)
    size = world.store.size(TRACK)
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    assert_problem(response)
    # a malformed request may be refused before authentication (400, 405, 413, 422); nothing gets further
    assert response.status_code in {400, 401, 405, 413, 422}, response.text
    if case.operation.method.upper() == "GET" and case.meta.generation.mode.value == "positive":
        assert response.status_code == 401, response.text
        assert header(response, "www-authenticate") == 'Signature tag="backchannel"'
    assert world.store.size(TRACK) == size


@schema.include(path_regex=r"/commands$").parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=4 * MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_signed_commands_with_plausible_bodies_never_fail(world: World, case: Any, data: Any) -> None:
    """Commands really signed by a member, with bodies close to valid, so the domain rules run."""
    who = data.draw(st.sampled_from(MEMBERS), label="member")
    case.path_parameters["track"] = TRACK
    command = data.draw(st.sampled_from(sorted(COMMAND_NAMES)), label="command")
    _resign_command(world, who, case, command, data.draw(command_bodies(world, command), label="body"))
    session = requests.Session()
    session.auth = Signer(world, who)
    response = case.call(session=session)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert_problem(response)
