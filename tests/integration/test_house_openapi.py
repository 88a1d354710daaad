"""/openapi.json: every command body in a union discriminated on ``command``, and the RFC 9421 headers."""

from pathlib import Path
from typing import Any

import pytest

from backchannel.api import create_app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.wire import COMMAND_NAMES, SignedCommand, sign_command
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import seeded_keys as pair


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = tmp_path_factory.mktemp("openapi") / "store.sqlite3"
    clock = FakeClock()
    writer = LogWriter(
        SQLiteEventStore(path), NoteSigner("test.log", SigningKey.from_seed(b"\x05" * 32)), clock=clock
    )
    app = create_app(
        TrackService(writer, pair(1, "qatar/service"), clock=clock), public_origin="http://t", clock=clock
    )
    return app.openapi()


def test_every_command_has_its_own_payload_in_a_union_discriminated_on_command(
    schema: dict[str, Any],
) -> None:
    components = schema["components"]["schemas"]
    assert components["SignedCommand"]["properties"]["payload"] == {
        "$ref": "#/components/schemas/CommandPayloadModel"
    }
    payload = components["CommandPayloadModel"]
    mapping = payload["discriminator"]["mapping"]
    assert payload["discriminator"]["propertyName"] == "command"
    assert set(mapping) == set(COMMAND_NAMES)
    for command, ref in mapping.items():
        model = components[ref.removeprefix("#/components/schemas/")]
        assert model["properties"]["command"]["const"] == command
        body = components[model["properties"]["body"]["$ref"].removeprefix("#/components/schemas/")]
        assert body["additionalProperties"] is False
        assert set(body["required"]) == set(body["properties"]), command


def test_a_command_body_names_its_fields_and_types(schema: dict[str, Any]) -> None:
    body = schema["components"]["schemas"]["SubmitMessageBody"]["properties"]
    assert set(body) == {"kind", "body", "priority", "in_reply_to", "annexes", "agenda_version"}
    assert "proposal" in body["kind"]["enum"]
    assert body["annexes"]["type"] == "array"
    assert body["annexes"]["description"] == "32 bytes: 64 lowercase hex digits"
    grant = schema["components"]["schemas"]["OpenTrackBody"]["properties"]["principal_key"]
    assert grant["$ref"].endswith("/NewKeyModel")


def test_the_documented_payload_is_what_the_sdk_signs(schema: dict[str, Any]) -> None:
    signed = sign_command(
        pair(2, "usa/principal").signing, track="t", command="vote_deal", member="usa/principal",
        body={"deal_id": "d", "deal_hash": "00" * 32, "vote": "yes"},
        issued_at=FakeClock().now(), nonce="nonce-0001",
    )  # fmt: skip
    payload = SignedCommand.to_dict(signed)["payload"]
    model = schema["components"]["schemas"]["VoteDealPayload"]
    assert set(payload) == set(model["properties"])
    assert set(payload["body"]) == set(schema["components"]["schemas"]["VoteDealBody"]["properties"])


def test_the_rfc9421_headers_are_a_security_requirement_of_every_track_operation(
    schema: dict[str, Any],
) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {"Signature", "Signature-Input", "Content-Digest"}
    assert all(s["type"] == "apiKey" and s["in"] == "header" for s in schemes.values())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = [{name: [] for name in schemes}] if path.startswith("/v1/tracks/") else None
            assert operation.get("security") == expected, (method, path)


def test_the_documented_bodies_are_the_fields_the_wire_reads(schema: dict[str, Any]) -> None:
    from backchannel import _wire_codec  # the wire's own table of body schemas (private)

    components = schema["components"]["schemas"]
    for name, kind in COMMAND_NAMES.items():
        documented = components[f"{''.join(p.capitalize() for p in name.split('_'))}Body"]["properties"]
        assert set(documented) == set(_wire_codec._BODIES[kind].names), name
