"""Key files: 0600 on disk, strict on load, never printing private keys."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.log.signing import AgreementKey, SigningKey, b64encode
from backchannel.protocol.keyfile import KEY_FILE_TYPE, KeyPair, read_key_file, write_key_file

SEED = bytes(range(32))
X_PRIVATE = bytes(range(32, 64))


@pytest.fixture
def keys() -> KeyPair:
    return KeyPair(
        name="usa/alice",
        signing=SigningKey.from_seed(SEED),
        agreement=AgreementKey.from_private_bytes(X_PRIVATE),
    )


@pytest.fixture
def path(tmp_path: Path, keys: KeyPair) -> Path:
    p = tmp_path / "alice.key"
    write_key_file(p, keys)
    return p


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def stored(p: Path) -> dict:
    return json.loads(p.read_bytes())


def rewrite(p: Path, content: object) -> None:
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    p.write_bytes(data)
    p.chmod(0o600)


def same_keys(a: KeyPair, b: KeyPair) -> bool:
    return (
        a.name == b.name
        and a.signing.private_bytes_unsafe() == b.signing.private_bytes_unsafe()
        and a.agreement.private_bytes_unsafe() == b.agreement.private_bytes_unsafe()
    )


def test_write_read_round_trip(path: Path, keys: KeyPair) -> None:
    loaded = read_key_file(path)
    assert same_keys(loaded, keys)
    assert loaded.signing.key_id == keys.signing.key_id
    assert loaded.agreement.key_id == keys.agreement.key_id
    assert loaded.public_dict() == keys.public_dict()


def test_file_layout(path: Path, keys: KeyPair) -> None:
    obj = stored(path)
    assert obj == {
        "type": KEY_FILE_TYPE,
        "name": "usa/alice",
        "ed25519": {
            "key_id": keys.signing.key_id,
            "public": keys.signing.verifying_key.to_text(),
            "private": base64.b64encode(SEED).decode(),
        },
        "x25519": {
            "key_id": keys.agreement.key_id,
            "public": keys.agreement.to_text(),
            "private": base64.b64encode(X_PRIVATE).decode(),
        },
    }
    assert KEY_FILE_TYPE == "backchannel-key/1"
    assert path.read_bytes().endswith(b"}\n")


def test_generated_key_pair_round_trips(tmp_path: Path) -> None:
    keys = KeyPair.generate("witness/1")
    write_key_file(tmp_path / "w.key", keys)
    assert same_keys(read_key_file(tmp_path / "w.key"), keys)


def test_file_mode_is_exactly_0600(path: Path) -> None:
    assert mode(path) == 0o600


def test_file_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path, keys: KeyPair) -> None:
    old = os.umask(0)
    try:
        write_key_file(tmp_path / "k", keys)
    finally:
        os.umask(old)
    assert mode(tmp_path / "k") == 0o600


def test_refuses_to_overwrite_without_overwrite(path: Path) -> None:
    before = path.read_bytes()
    other = KeyPair.generate("usa/bob")
    with pytest.raises(ConfigurationError, match="exists; refusing to overwrite") as info:
        write_key_file(path, other)
    assert isinstance(info.value.__cause__, FileExistsError)
    assert path.read_bytes() == before


def test_overwrites_with_overwrite_and_keeps_0600(tmp_path: Path, keys: KeyPair) -> None:
    p = tmp_path / "k"
    p.write_text("x" * 10_000)  # longer than a key file: must be truncated
    p.chmod(0o644)
    write_key_file(p, keys, overwrite=True)
    assert mode(p) == 0o600
    assert same_keys(read_key_file(p), keys)
    other = KeyPair.generate("usa/bob")
    write_key_file(p, other, overwrite=True)
    assert mode(p) == 0o600
    assert same_keys(read_key_file(p), other)


def test_write_into_missing_directory_is_a_configuration_error(tmp_path: Path, keys: KeyPair) -> None:
    with pytest.raises(ConfigurationError, match="cannot write key file") as info:
        write_key_file(tmp_path / "missing" / "k", keys)
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660, 0o601, 0o610])
def test_read_refuses_group_or_world_accessible_file(path: Path, bad_mode: int) -> None:
    path.chmod(bad_mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as info:
        read_key_file(path)
    assert f"(mode {bad_mode:04o})" in str(info.value)
    assert "accessible by group or others" in str(info.value)


@pytest.mark.parametrize("ok_mode", [0o400, 0o600, 0o700])
def test_read_accepts_owner_only_modes(path: Path, ok_mode: int) -> None:
    path.chmod(ok_mode)
    assert read_key_file(path).name == "usa/alice"


def test_read_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no key file at") as info:
        read_key_file(tmp_path / "nope.key")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_read_refuses_a_directory(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="cannot read key file") as info:
        read_key_file(d)
    assert isinstance(info.value.__cause__, OSError)


def _mutations() -> dict[str, object]:
    """Each entry: a change to the stored JSON, applied by ``_apply``."""
    return {
        "malformed-json": b'{"type": "backchannel-key/1",',
        "invalid-utf8": b"\xff\xfe",
        "duplicate-key": b'{"type": "backchannel-key/1", "type": "backchannel-key/1"}',
        "not-an-object": [1, 2],
        "wrong-type": ("type", "backchannel-key/2"),
        "missing-type": ("type", None),
        "missing-name": ("name", None),
        "empty-name": ("name", ""),
        "name-not-string": ("name", 7),
        "missing-ed25519": ("ed25519", None),
        "missing-x25519": ("x25519", None),
        "ed25519-not-object": ("ed25519", "abc"),
        "x25519-not-object": ("x25519", [1]),
        "ed25519-private-missing": ("ed25519.private", None),
        "ed25519-private-not-string": ("ed25519.private", 5),
        "ed25519-private-short": ("ed25519.private", b64encode(bytes(31))),
        "ed25519-private-long": ("ed25519.private", b64encode(bytes(33))),
        "ed25519-private-not-base64": ("ed25519.private", "***"),
        "x25519-private-short": ("x25519.private", b64encode(bytes(16))),
        "x25519-private-non-canonical": ("x25519.private", "AB=="),
    }


def _apply(obj: dict, change: object) -> object:
    if not isinstance(change, tuple):
        return change
    dotted, value = change
    target = obj
    *parents, leaf = dotted.split(".")
    for parent in parents:
        target = target[parent]
    if value is None:
        del target[leaf]
    else:
        target[leaf] = value
    return obj


@pytest.mark.parametrize(("name", "change"), list(_mutations().items()), ids=list(_mutations()))
def test_read_refuses_malformed_content(path: Path, name: str, change: object) -> None:
    rewrite(path, _apply(stored(path), change))
    with pytest.raises(ConfigurationError, match="is malformed: ") as info:
        read_key_file(path)
    assert isinstance(info.value.__cause__, EncodingError), name
    assert str(path) in str(info.value)


def test_read_error_names_the_bad_field(path: Path) -> None:
    rewrite(path, _apply(stored(path), ("x25519.private", b64encode(bytes(16)))))
    with pytest.raises(ConfigurationError, match=r"x25519\.private: expected 32 bytes, got 16"):
        read_key_file(path)
    rewrite(path, _apply(stored(path), ("type", "ssh-ed25519")))
    with pytest.raises(ConfigurationError, match="type: expected 'backchannel-key/1'"):
        read_key_file(path)


@pytest.mark.parametrize("section", ["ed25519", "x25519"])
def test_read_refuses_stored_key_ids_that_do_not_match(path: Path, section: str) -> None:
    other = KeyPair.generate("usa/bob").public_dict()
    obj = stored(path)
    obj[section]["key_id"] = other[section]["key_id"]  # type: ignore[index]
    rewrite(path, obj)
    with pytest.raises(
        ConfigurationError, match="stored key ids or public keys do not match the private keys"
    ):
        read_key_file(path)


def test_read_refuses_swapped_private_keys(path: Path) -> None:
    obj = stored(path)
    obj["ed25519"]["private"], obj["x25519"]["private"] = obj["x25519"]["private"], obj["ed25519"]["private"]
    rewrite(path, obj)
    with pytest.raises(ConfigurationError, match="stored key ids or public keys do not match"):
        read_key_file(path)


@pytest.mark.parametrize("change", [("ed25519.key_id", None), ("x25519.key_id", 42)])
def test_read_refuses_missing_key_id_with_configuration_error(path: Path, change: object) -> None:
    rewrite(path, _apply(stored(path), change))
    with pytest.raises(ConfigurationError):
        read_key_file(path)


@pytest.mark.parametrize("section", ["ed25519", "x25519"])
def test_read_refuses_stored_public_key_that_does_not_match(path: Path, section: str) -> None:
    other = KeyPair.generate("usa/bob").public_dict()
    obj = stored(path)
    obj[section]["public"] = other[section]["public"]  # type: ignore[index]
    rewrite(path, obj)
    with pytest.raises(ConfigurationError):
        read_key_file(path)


def test_file_holds_the_private_keys(path: Path) -> None:
    text = path.read_text()
    assert base64.b64encode(SEED).decode() in text
    assert base64.b64encode(X_PRIVATE).decode() in text


def _private_renderings(raw: bytes) -> list[str]:
    return [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), repr(raw)]


def test_repr_of_key_pair_hides_private_keys(keys: KeyPair) -> None:
    for text in (repr(keys), str(keys)):
        assert "usa/alice" in text
        assert keys.signing.key_id in text
        assert keys.agreement.key_id in text
        for secret in _private_renderings(SEED) + _private_renderings(X_PRIVATE):
            assert secret not in text


def test_public_dict_holds_no_private_material(keys: KeyPair) -> None:
    public = keys.public_dict()
    assert public == {
        "name": "usa/alice",
        "ed25519": {"key_id": keys.signing.key_id, "public": keys.signing.verifying_key.to_text()},
        "x25519": {"key_id": keys.agreement.key_id, "public": keys.agreement.to_text()},
    }
    text = json.dumps(public)
    assert "private" not in text
    for secret in _private_renderings(SEED) + _private_renderings(X_PRIVATE):
        assert secret not in text


def test_key_pair_is_frozen(keys: KeyPair) -> None:
    with pytest.raises(AttributeError):
        keys.name = "mallory"  # type: ignore[misc]
