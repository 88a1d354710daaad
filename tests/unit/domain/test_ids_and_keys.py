from datetime import UTC, datetime, timedelta

import pytest

from backchannel.domain.errors import KeyExpiredError, KeyRevokedError, SchemaViolationError
from backchannel.domain.ids import (
    MessageKind,
    Priority,
    check_digest,
    check_idempotency_key,
    check_key_id,
    check_member_id,
    check_message_id,
    check_party_id,
    check_track_id,
    member_name,
    message_id_of,
    party_of,
    service_member,
)
from backchannel.domain.keys import KeyRecord, NewKey, ed25519_key_id, is_aware, time_text
from backchannel.log.signing import SigningKey, key_id

T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (check_track_id, ["us-iran-nuclear", "t", "a.b_c-1", "x" * 64], ["", "-a", "A", "x" * 65, "a/b"]),
        (check_party_id, ["iran", "p_1-x", "x" * 32], ["", "a.b", "x" * 33, "Iran", "a/b"]),
        (
            check_key_id,
            ["ed25519:" + "0" * 32],
            ["ed25519:" + "0" * 31, "x25519:" + "0" * 32, "ED25519:" + "a" * 32],
        ),
        (check_message_id, ["ab" * 32], ["AB" * 32, "ab" * 31, "g" * 64]),
        (check_idempotency_key, ["retry-1", "A.b~c:d_e", "k" * 128], ["", "k" * 129, "has space", "ü"]),
    ],
)
def test_identifier_forms(check, good, bad) -> None:
    for value in good:
        assert check(value) == [], value
    for value in bad:
        (violation,) = check(value, "f")
        assert violation.field == "f"
        assert violation.rule == "pattern"
        assert violation.message.startswith("f: ")


def test_identifiers_must_be_text() -> None:
    (violation,) = check_track_id(3)
    assert (violation.field, violation.rule) == ("track", "type")
    assert "got int" in violation.message


def test_member_ids() -> None:
    assert check_member_id("iran/araghchi") == []
    assert check_member_id("oman/service") == []
    assert check_member_id("iran/a.b-c_d") == []
    for bad in ("iran", "iran/", "/x", "ir.an/x", "iran/x/y", "iran/" + "x" * 33):
        assert check_member_id(bad)[0].rule == "pattern", bad
    (reserved,) = check_member_id("oman/service", "principal", allow_service=False)
    assert (reserved.field, reserved.rule) == ("principal", "reserved")
    assert check_member_id("oman/services", allow_service=False) == []


def test_member_parts() -> None:
    assert party_of("iran/araghchi") == "iran"
    assert member_name("iran/araghchi") == "araghchi"
    assert service_member("oman") == "oman/service"
    assert message_id_of(b"\x01" * 32) == "01" * 32


def test_digests() -> None:
    assert check_digest(b"\x00" * 32, "d") == []
    assert check_digest(b"\x00" * 31, "d")[0].rule == "type"
    assert check_digest("00" * 32, "d")[0].message == "d: expected 32 bytes (a SHA-256 digest)"


def test_kinds() -> None:
    assert [k for k in MessageKind if k.is_proposal] == [MessageKind.PROPOSAL, MessageKind.COUNTER_PROPOSAL]
    assert sorted(Priority, key=lambda p: p.rank) == [Priority.FLASH, Priority.PRIORITY, Priority.ROUTINE]


def test_key_ids_match_the_log_layer() -> None:
    for seed in (b"\x00" * 32, b"\x01" * 32, bytes(range(32))):
        signing = SigningKey.from_seed(seed)
        assert ed25519_key_id(signing.verifying_key.public_bytes) == signing.key_id
        assert ed25519_key_id(seed) == key_id("ed25519", seed)


def _key(**overrides: object) -> NewKey:
    ed = b"\x07" * 32
    fields: dict[str, object] = {"key_id": ed25519_key_id(ed), "ed25519": ed, "x25519": b"\x08" * 32}
    fields.update(overrides)
    return NewKey(**fields)  # type: ignore[arg-type]


def test_a_new_key_must_carry_its_own_id() -> None:
    key = _key(expires_at=T)
    assert key.expires_at == T
    with pytest.raises(SchemaViolationError) as info:
        _key(key_id="ed25519:" + "0" * 32)
    (violation,) = info.value.violations
    assert (violation.field, violation.rule) == ("key.key_id", "derived")
    assert ed25519_key_id(b"\x07" * 32) in violation.message


def test_a_new_key_reports_every_malformed_field() -> None:
    with pytest.raises(SchemaViolationError) as info:
        _key(key_id="nope", ed25519=b"short", x25519="text", expires_at=datetime(2026, 1, 1))  # noqa: DTZ001
    assert [(v.field, v.rule) for v in info.value.violations] == [
        ("key.key_id", "pattern"),
        ("key.ed25519", "type"),
        ("key.x25519", "type"),
        ("key.expires_at", "type"),
    ]


def test_times() -> None:
    assert is_aware(T)
    assert not is_aware(datetime(2026, 1, 1))  # noqa: DTZ001
    assert not is_aware("2026-01-01")
    assert time_text(T + timedelta(microseconds=5)) == "2026-01-01T00:00:00.000005Z"


def test_key_record_usable_until_the_instant_of_revocation_or_expiry() -> None:
    key = _key().enrol(T, "med/chair")
    assert key == KeyRecord(key.key_id, key.ed25519, key.x25519, T, "med/chair", None, None)
    assert key.usable_at(T + timedelta(days=9999))
    revoked = KeyRecord(key.key_id, key.ed25519, key.x25519, T, "med/chair", None, T + timedelta(hours=1))
    assert revoked.usable_at(T + timedelta(minutes=59))
    assert not revoked.usable_at(T + timedelta(hours=1))
    revoked.verify_usable(T)
    with pytest.raises(KeyRevokedError) as info:
        revoked.verify_usable(T + timedelta(hours=1))
    assert str(info.value) == f"key {key.key_id} was revoked at 2026-01-01T01:00:00.000000Z"
    assert (info.value.key_id, info.value.when) == (key.key_id, T + timedelta(hours=1))
    expiring = KeyRecord(key.key_id, key.ed25519, key.x25519, T, "m/x", T + timedelta(days=1), None)
    assert not expiring.usable_at(T + timedelta(days=1))
    with pytest.raises(KeyExpiredError, match=r"expired at 2026-01-02T00:00:00.000000Z"):
        expiring.verify_usable(T + timedelta(days=1))
