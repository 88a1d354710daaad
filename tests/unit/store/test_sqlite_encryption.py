"""Encryption at rest in the SQLite store (ADR-0057): what the file holds, and what opens it."""

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError, NotFoundError, VerificationError
from backchannel.log.signing import SigningKey
from backchannel.service.log import Draft, LogWriter
from backchannel.store.encryption import MasterKey
from backchannel.store.memory import MemoryEventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing._contract_helpers import capture_batch
from backchannel.testing.clock import FakeClock
from backchannel.testing.contracts import log_signer
from backchannel.testing.salts import UnsafeDeterministicSalts

AUTHOR = SigningKey.from_seed(bytes([7]) * 32)
MASTER = MasterKey(bytes(range(32)), "test key")
WRONG = MasterKey(bytes(range(1, 33)), "file wrong.key")
SECRET = "Zanzibar-fallback-position-4417"  # a body no other byte sequence in the file contains
SALT_SEED = b"salt-seed-for-the-no-plaintext-test"


def drafts(count: int, first: int = 0) -> list[Draft]:
    return [
        Draft("statement.made", "us/alice", {"n": n, "text": f"{SECRET} #{n}"}, AUTHOR)
        for n in range(first, first + count)
    ]


def writer_for(store: SQLiteEventStore) -> LogWriter:
    clock = FakeClock(autojump=timedelta(seconds=1))
    return LogWriter(store, log_signer(), clock=clock, salts=UnsafeDeterministicSalts(SALT_SEED))


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def file_bytes(path: Path) -> bytes:
    """The database file and its WAL, as a copy of the data directory would hold them."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore(path, master_key=MASTER) as store:
        yield store


def test_the_file_and_its_wal_hold_no_plaintext_payload(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(20))
    store.put_annex("t", f"annex {SECRET}".encode(), "usa")
    entries = list(store.read("t"))
    salts = [e.salt for e in entries]
    assert all(len(salt) == 32 for salt in salts)
    assert SECRET.encode() in entries[1].signed_bytes  # callers see plain text
    # While open (the WAL holds the recent pages) and after close (checkpointed into the file).
    for moment in ("open", "closed"):
        if moment == "closed":
            store.close()
        data = file_bytes(path)
        assert len(data) > 10_000
        assert SECRET.encode() not in data, moment
        assert b"statement.made" not in data, moment
        assert not [salt for salt in salts if salt in data], moment
        assert entries[0].leaf_hash in data  # hashes stay visible: proofs are unchanged


def test_reads_open_sealed_rows_and_hashes_match_the_plaintext(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(3))
    plain = SQLiteEventStore(path.with_name("plain.db"))
    plain_writer = writer_for(plain)
    plain_writer.open_track("t")
    plain_writer.append("t", drafts(3))
    assert list(store.read("t")) == list(plain.read("t"))  # same bytes, same leaves
    assert store.latest_checkpoint("t") == plain.latest_checkpoint("t")
    plain.close()
    with raw(path) as conn:
        versions = conn.execute("SELECT DISTINCT key_version FROM entries").fetchall()
        check = conn.execute("SELECT master_id FROM master_key_check").fetchall()
    assert versions == [(1,)]
    assert check == [(MASTER.key_id,)]


def test_an_encrypted_database_refuses_to_open_without_its_key_or_with_another(
    store: SQLiteEventStore, path: Path
) -> None:
    writer_for(store).open_track("t")
    store.close()
    with pytest.raises(ConfigurationError, match=r"store.db is encrypted at rest: give its master key"):
        SQLiteEventStore(path)
    with pytest.raises(
        ConfigurationError, match=r"wrong master key: .* the key from file wrong.key is mk:[0-9a-f]{16}"
    ):
        SQLiteEventStore(path, master_key=WRONG)
    with SQLiteEventStore(path, master_key=MASTER) as again:
        assert [info.track for info in again.list_tracks()] == ["t"]


def test_an_empty_encrypted_database_knows_its_key_too(path: Path) -> None:
    SQLiteEventStore(path, master_key=MASTER).close()
    with pytest.raises(ConfigurationError, match="wrong master key"):
        SQLiteEventStore(path, master_key=WRONG)


def test_a_plaintext_database_keeps_old_rows_readable_and_seals_new_ones(path: Path) -> None:
    with SQLiteEventStore(path) as plain:
        writer = writer_for(plain)
        writer.open_track("t")
        writer.append("t", drafts(2))
        plain.put_annex("t", b"old annex", "usa")
    with SQLiteEventStore(path, master_key=MASTER) as store:
        writer = writer_for(store)
        writer.append("t", drafts(2, first=2))
        store.put_annex("t", b"new annex", "usa")
        entries = list(store.read("t"))
        assert [e.decode().signed.event.body["n"] for e in entries] == [0, 1, 2, 3]  # type: ignore[index,call-overload]
        assert all(e.computed_leaf_hash() == e.leaf_hash for e in entries)
        old = store.get_annex("t", hashlib.sha256(b"old annex").digest())
        new = store.get_annex("t", hashlib.sha256(b"new annex").digest())
        assert (old and old.data, new and new.data) == (b"old annex", b"new annex")
    with raw(path) as conn:
        rows = conn.execute("SELECT seq, key_version FROM entries ORDER BY seq").fetchall()
        annexes = sorted(
            conn.execute("SELECT data = X'6f6c6420616e6e6578', key_version FROM annexes").fetchall()
        )
    assert rows == [(0, None), (1, None), (2, 1), (3, 1)]
    assert annexes == [(0, 1), (1, None)]


def test_rotation_keeps_old_entries_readable_and_new_ones_use_the_new_key(
    store: SQLiteEventStore, path: Path
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(2))
    assert store.rotate_data_key("t") == 2
    writer.append("t", drafts(2, first=2))
    assert len(list(store.read("t"))) == 4
    store.close()
    with SQLiteEventStore(path, master_key=MASTER) as again:  # a restart reads every version
        assert [e.seq for e in again.read("t")] == [0, 1, 2, 3]
        assert again.rotate_data_key("t") == 3
    with raw(path) as conn:
        versions = conn.execute("SELECT seq, key_version FROM entries ORDER BY seq").fetchall()
        keys = conn.execute("SELECT version, master_id FROM data_keys WHERE track = 't'").fetchall()
    assert versions == [(0, 1), (1, 1), (2, 2), (3, 2)]
    assert keys == [(1, MASTER.key_id), (2, MASTER.key_id), (3, MASTER.key_id)]


def test_rotation_needs_a_known_track_and_a_master_key(store: SQLiteEventStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.rotate_data_key("nope")
    with SQLiteEventStore(tmp_path / "plain.db") as plain:
        writer_for(plain).open_track("t")
        assert plain.cipher is None
        with pytest.raises(ConfigurationError, match="rotating a data key of .* give its master key"):
            plain.rotate_data_key("t")


def test_an_altered_or_swapped_ciphertext_is_a_verification_error_not_garbage(
    store: SQLiteEventStore, path: Path
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(3))
    store.put_annex("t", b"annex", "usa")
    store.close()
    with raw(path) as conn:  # entry 1 gets entry 2's sealed bytes: both valid ciphertexts, wrong place
        (two,) = conn.execute("SELECT signed FROM entries WHERE seq = 2").fetchone()
        conn.execute("UPDATE entries SET signed = ? WHERE seq = 1", (two,))
        (annex,) = conn.execute("SELECT data FROM annexes").fetchone()
        conn.execute("UPDATE annexes SET data = ?", (annex[:20] + bytes([annex[20] ^ 1]) + annex[21:],))
    with SQLiteEventStore(path, master_key=MASTER) as again:
        with pytest.raises(VerificationError, match=r"entry.signed at 1 does not decrypt with data key v1"):
            list(again.read("t"))
        assert [e.seq for e in again.read("t", 2)] == [2]
        with pytest.raises(VerificationError, match="annex at .* does not decrypt"):
            again.get_annex("t", hashlib.sha256(b"annex").digest())


def test_sealed_rows_without_a_master_key_are_refused_not_returned_as_bytes(
    store: SQLiteEventStore, path: Path
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(1))
    store.put_annex("t", b"annex", "usa")
    store.close()
    with raw(path) as conn:  # someone deleted the check value, hoping to read the rows without the key
        conn.execute("DELETE FROM master_key_check")
    with SQLiteEventStore(path) as keyless:
        with pytest.raises(ConfigurationError, match="track 't' is encrypted at rest"):
            list(keyless.read("t"))
        with pytest.raises(ConfigurationError, match="track 't' is encrypted at rest"):
            keyless.get_annex("t", hashlib.sha256(b"annex").digest())


def test_an_append_to_an_unknown_track_makes_no_data_key(store: SQLiteEventStore, path: Path) -> None:
    elsewhere = MemoryEventStore()
    writer_for(elsewhere).open_track("ghost")  # the ghost track exists only in memory
    batch, size = capture_batch(elsewhere, "ghost", 2)
    with pytest.raises(NotFoundError, match="ghost"):
        store.append(batch, size)
    with raw(path) as conn:
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone() == (0,)
