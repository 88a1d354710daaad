"""The envelope cipher of encryption at rest (ADR-0057), over an in-memory key table."""

import base64
import dataclasses
import os
import threading
from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, VerificationError
from backchannel.store.encryption import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    MasterKey,
    MasterKeySource,
    PayloadCipher,
    PayloadKind,
    Sealed,
    WrappedDataKey,
    generate_master_key,
    write_master_key_file,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


class DictKeys:
    """The DataKeyStore protocol in a dict: what a store's key table does."""

    def __init__(self) -> None:
        self.check: tuple[str, bytes] | None = None
        self.keys: dict[tuple[str, int], WrappedDataKey] = {}
        self.lock = threading.Lock()

    def load_key_check(self) -> tuple[str, bytes] | None:
        return self.check

    def save_key_check(self, master_id: str, check: bytes) -> tuple[str, bytes]:
        with self.lock:
            if self.check is None:
                self.check = (master_id, check)
            return self.check

    def load_data_keys(self, track: str) -> list[WrappedDataKey]:
        return [key for (name, _), key in self.keys.items() if name == track]

    def save_data_key(self, key: WrappedDataKey) -> bool:
        with self.lock:
            if (key.track, key.version) in self.keys:
                return False
            self.keys[key.track, key.version] = key
            return True


def cipher(keys: DictKeys, master: bytes = KEY_A) -> PayloadCipher:
    return PayloadCipher(MasterKey(master, "test"), keys, clock=lambda: 1_700_000_000)


def test_seal_then_open_gives_the_plaintext_and_the_ciphertext_hides_it() -> None:
    c = cipher(DictKeys())
    sealed = c.seal("t", PayloadKind.SIGNED, "0", b"the red line is 3.67 percent")
    assert sealed.key_version == 1
    assert b"3.67" not in sealed.blob
    assert len(sealed.blob) == 1 + 12 + len(b"the red line is 3.67 percent") + 16
    assert c.open("t", PayloadKind.SIGNED, "0", sealed) == b"the red line is 3.67 percent"
    again = c.seal("t", PayloadKind.SIGNED, "0", b"the red line is 3.67 percent")
    assert again.blob != sealed.blob  # a fresh random nonce every time


@pytest.mark.parametrize("position", [0, 5, 13, -1])
def test_a_tampered_ciphertext_does_not_open(position: int) -> None:
    c = cipher(DictKeys())
    sealed = c.seal("t", PayloadKind.SALT, "4", b"s" * 32)
    blob = bytearray(sealed.blob)
    blob[position] ^= 0x01
    with pytest.raises(VerificationError, match=r"entry.salt at 4 does not decrypt with data key v1"):
        c.open("t", PayloadKind.SALT, "4", Sealed(1, bytes(blob)))


def test_a_truncated_ciphertext_does_not_open() -> None:
    c = cipher(DictKeys())
    sealed = c.seal("t", PayloadKind.ANNEX, "ab", b"")
    with pytest.raises(VerificationError, match="altered or moved"):
        c.open("t", PayloadKind.ANNEX, "ab", Sealed(1, sealed.blob[:-1][:28]))


@pytest.mark.parametrize(
    ("track", "kind", "where"),
    [
        ("other", PayloadKind.SIGNED, "7"),  # moved to another track
        ("t", PayloadKind.SALT, "7"),  # moved to another column
        ("t", PayloadKind.SIGNED, "8"),  # moved to another row
    ],
)
def test_a_ciphertext_moved_to_another_place_does_not_open(track: str, kind: PayloadKind, where: str) -> None:
    keys = DictKeys()
    c = cipher(keys)
    c.seal("other", PayloadKind.SIGNED, "0", b"x")  # so "other" has a data key v1 too
    sealed = c.seal("t", PayloadKind.SIGNED, "7", b"body")
    with pytest.raises(VerificationError, match="altered or moved"):
        c.open(track, kind, where, sealed)


def test_rotation_keeps_old_payloads_readable_and_seals_new_ones_with_the_new_key() -> None:
    keys = DictKeys()
    c = cipher(keys)
    old = c.seal("t", PayloadKind.SIGNED, "0", b"old")
    assert c.current_version("t") == 1
    assert c.rotate("t") == 2
    new = c.seal("t", PayloadKind.SIGNED, "1", b"new")
    assert (old.key_version, new.key_version) == (1, 2)
    assert c.open("t", PayloadKind.SIGNED, "0", old) == b"old"
    assert c.open("t", PayloadKind.SIGNED, "1", new) == b"new"
    with pytest.raises(VerificationError):  # the key version is part of the associated data
        c.open("t", PayloadKind.SIGNED, "1", Sealed(1, new.blob))
    # A fresh cipher (another process, a restart) reads both from the key table alone.
    fresh = cipher(keys)
    assert fresh.open("t", PayloadKind.SIGNED, "0", old) == b"old"
    assert fresh.seal("t", PayloadKind.SIGNED, "2", b"x").key_version == 2
    assert sorted(keys.keys) == [("t", 1), ("t", 2)]
    assert {k.created for k in keys.keys.values()} == {1_700_000_000}
    assert c.current_version("never-sealed") is None
    assert c.rotate("never-sealed") == 1


def test_a_rotation_elsewhere_is_picked_up_when_its_version_is_read() -> None:
    keys = DictKeys()
    here, there = cipher(keys), cipher(keys)
    here.seal("t", PayloadKind.SIGNED, "0", b"a")
    there.rotate("t")
    sealed = there.seal("t", PayloadKind.SIGNED, "1", b"b")
    assert here.open("t", PayloadKind.SIGNED, "1", sealed) == b"b"


def test_a_payload_naming_a_key_the_store_lacks_is_refused() -> None:
    c = cipher(DictKeys())
    sealed = c.seal("t", PayloadKind.SIGNED, "0", b"a")
    with pytest.raises(VerificationError, match="names data key v9, which the store does not hold"):
        c.open("t", PayloadKind.SIGNED, "0", Sealed(9, sealed.blob))


def test_two_writers_making_the_first_key_agree_on_one() -> None:
    keys = DictKeys()
    first, second = cipher(keys), cipher(keys)
    a = first.seal("t", PayloadKind.SIGNED, "0", b"a")
    # second has not seen the key: it tries version 1, loses, and uses the stored one
    assert second.rotate("t") == 2
    assert second.open("t", PayloadKind.SIGNED, "0", a) == b"a"
    lost = WrappedDataKey("t", 1, 0, "mk:x", b"")
    assert keys.save_data_key(lost) is False


def test_the_master_key_check_is_recorded_once_then_verified() -> None:
    keys = DictKeys()
    cipher(keys).check_master_key()
    assert keys.check is not None
    stored = keys.check
    cipher(keys).check_master_key()  # the same key: fine, nothing rewritten
    assert keys.check == stored
    with pytest.raises(ConfigurationError, match=r"wrong master key: .* the key from test is mk:"):
        cipher(keys, KEY_B).check_master_key()


def test_a_damaged_check_value_is_refused_naming_the_source() -> None:
    keys = DictKeys()
    cipher(keys).check_master_key()
    assert keys.check is not None
    keys.check = (keys.check[0], keys.check[1][:-1] + b"\x00")
    with pytest.raises(ConfigurationError, match="check value does not open with the key from test"):
        cipher(keys).check_master_key()


def test_a_data_key_wrapped_by_another_master_key_or_altered_is_refused() -> None:
    keys = DictKeys()
    cipher(keys).seal("t", PayloadKind.SIGNED, "0", b"a")
    with pytest.raises(ConfigurationError, match="is wrapped by master key mk:"):
        cipher(keys, KEY_B).seal("t", PayloadKind.SIGNED, "1", b"b")
    wrapped = keys.keys["t", 1]
    keys.keys["t", 1] = dataclasses.replace(wrapped, track="u")  # as if moved from track u
    keys.keys["u", 1] = keys.keys.pop(("t", 1))
    with pytest.raises(VerificationError, match="data key v1 of track 'u' does not unwrap"):
        cipher(keys).seal("u", PayloadKind.SIGNED, "0", b"c")


def test_the_master_key_is_never_shown() -> None:
    master = MasterKey(KEY_A, "file k")
    assert KEY_A.hex() not in repr(master)
    assert repr(master) == f"MasterKey({master.key_id}, from file k)"
    assert master.key_id.startswith("mk:")
    assert len(master.key_id) == 19
    with pytest.raises(ConfigurationError, match="from file k must be 32 bytes, got 31"):
        MasterKey(KEY_A[:31], "file k")


def test_keygen_writes_a_0600_file_that_loads_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    written = write_master_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = MasterKeySource(path=path).load()
    assert loaded.key_id == written.key_id
    assert loaded.source == f"file {path}"
    with pytest.raises(ConfigurationError, match="exists; refusing to overwrite"):
        write_master_key_file(path)
    with pytest.raises(ConfigurationError, match="cannot write master key file"):
        write_master_key_file(tmp_path / "missing" / "k")
    assert len(base64.b64decode(generate_master_key())) == 32


def test_a_master_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(generate_master_key())
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match=r"readable by others \(mode 0644\); run chmod 600"):
        MasterKeySource(path=path).load()


def test_bad_master_key_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(ConfigurationError, match=f"no master key file at {missing}"):
        MasterKeySource(path=missing).load()
    not_b64 = tmp_path / "bad.key"
    not_b64.write_text("not base64 at all!\n")
    not_b64.chmod(0o600)
    with pytest.raises(ConfigurationError, match=f"the master key from file {not_b64} is not base64"):
        MasterKeySource(path=not_b64).load()
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"k" * 16).decode())
    short.chmod(0o600)
    with pytest.raises(ConfigurationError, match="must be 32 bytes, got 16"):
        MasterKeySource(path=short).load()
    with pytest.raises(ConfigurationError, match="cannot read the master key file"):
        MasterKeySource(path=tmp_path).load()  # a directory


def test_the_environment_names_the_source() -> None:
    text = generate_master_key()
    assert MasterKeySource.from_environment({}) is None
    assert MasterKeySource.from_environment({MASTER_KEY_ENV: ""}) is None
    from_file = MasterKeySource.from_environment({MASTER_KEY_FILE_ENV: "/k/master.key"})
    assert from_file == MasterKeySource(path=Path("/k/master.key"))
    from_env = MasterKeySource.from_environment({MASTER_KEY_ENV: text})
    assert from_env == MasterKeySource(env=MASTER_KEY_ENV)
    assert str(from_env) == "environment variable BACKCHANNEL_MASTER_KEY"
    assert from_env.load({MASTER_KEY_ENV: text}).key_id == MasterKey(base64.b64decode(text), "x").key_id
    with pytest.raises(ConfigurationError, match="not both"):
        MasterKeySource.from_environment({MASTER_KEY_ENV: text, MASTER_KEY_FILE_ENV: "/k"})
    with pytest.raises(ConfigurationError, match="environment variable BACKCHANNEL_MASTER_KEY is not set"):
        from_env.load({})
    with pytest.raises(ConfigurationError, match="either a file or an environment variable"):
        MasterKeySource()
    with pytest.raises(ConfigurationError, match="either a file or an environment variable"):
        MasterKeySource(path=Path("k"), env=MASTER_KEY_ENV)


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    text = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(MASTER_KEY_ENV, text)
    source = MasterKeySource.from_environment()
    assert source is not None
    assert source.load().source == "environment variable BACKCHANNEL_MASTER_KEY"
