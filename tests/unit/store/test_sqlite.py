"""SQLite-specific behaviour of SQLiteEventStore (the shared contract is in tests/contract)."""

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from backchannel.errors import (
    ConflictError,
    NotFoundError,
    OperationalError,
    ProgrammingError,
    VerificationError,
)
from backchannel.log import merkle
from backchannel.log.signing import SigningKey
from backchannel.service.log import Draft, LogWriter
from backchannel.store.base import AppendBatch, StoredCosignature, StoredSplitView
from backchannel.store.sqlite import SQLiteEventStore, migrations
from backchannel.testing.clock import FakeClock
from backchannel.testing.contracts import log_signer
from backchannel.testing.salts import UnsafeDeterministicSalts

KEY = SigningKey.from_seed(bytes([7]) * 32)

DELIVERY_STATE_TABLES = (
    "delivery_leases",
    "delivery_versions",
    "delivery_heartbeats",
    "replay_nonces",
    "work_leases",
)
"""The tables of migration 0007, dropped to take a database back to an older schema."""


def drafts(count: int, first: int = 0) -> list[Draft]:
    return [Draft("statement.made", "us/alice", {"n": n}, KEY) for n in range(first, first + count)]


def writer_for(store: SQLiteEventStore, seed: bytes = b"unit") -> LogWriter:
    clock = FakeClock(autojump=timedelta(seconds=1))
    return LogWriter(store, log_signer(), clock=clock, salts=UnsafeDeterministicSalts(seed))


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def undo_encryption_tables(conn: sqlite3.Connection) -> None:
    """Back to schema 5: without migration 0006's key tables and key_version columns."""
    conn.execute("DROP TABLE data_keys")
    conn.execute("DROP TABLE master_key_check")
    conn.execute("ALTER TABLE entries DROP COLUMN key_version")
    conn.execute("ALTER TABLE annexes DROP COLUMN key_version")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteEventStore]:
    with SQLiteEventStore.open(path) as store:
        yield store


def test_wal_synchronous_full_and_foreign_keys_are_in_effect(store: SQLiteEventStore, path: Path) -> None:
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    with raw(path) as other:  # WAL is a property of the file, seen by every connection
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_busy_timeout_is_configurable(path: Path) -> None:
    with SQLiteEventStore(path, busy_timeout=0.25) as store:
        assert store._conn is not None
        assert store._conn.execute("PRAGMA busy_timeout").fetchone() == (250,)


def test_data_survives_close_and_reopen(path: Path) -> None:
    with SQLiteEventStore(path) as store:
        writer = writer_for(store)
        writer.open_track("t")
        writer.append("t", drafts(5))
        writer.append("t", drafts(3, 5))
        before = (list(store.read("t")), list(store.checkpoints("t")), store.root("t"), store.list_tracks())
    with SQLiteEventStore(path) as store:
        after = (list(store.read("t")), list(store.checkpoints("t")), store.root("t"), store.list_tracks())
        assert after == before
        writer_for(store, b"again").append("t", drafts(1, 8))  # and it keeps growing
        assert store.root("t") == merkle.root([e.leaf_hash for e in store.read("t")])


def test_migrations_are_recorded_once(path: Path) -> None:
    SQLiteEventStore(path).close()
    SQLiteEventStore(path).close()
    with raw(path) as conn:
        versions = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        without_rowid = conn.execute("SELECT wr FROM pragma_table_list WHERE name = 'nodes'").fetchone()
    assert versions == [(m.version, m.name) for m in migrations()]
    assert versions[0] == (1, "0001_init.sql")
    assert {"schema_version", "tracks", "entries", "nodes", "checkpoints"} <= tables
    assert without_rowid == (1,)


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in migrations()] == list(range(1, len(migrations()) + 1))
    assert all(m.sql.strip() for m in migrations())


def test_newer_schema_version_is_refused(path: Path) -> None:
    SQLiteEventStore(path).close()
    newer = len(migrations()) + 1
    with raw(path) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (?, 'future.sql')", (newer,))
    with pytest.raises(ProgrammingError, match=rf"schema version {newer}, newer than this code knows"):
        SQLiteEventStore(path)


def test_a_file_that_is_not_a_database_is_refused(path: Path) -> None:
    path.write_bytes(b"this is not a SQLite database\n" * 200)
    with pytest.raises(ProgrammingError, match="not a SQLite database") as caught:
        SQLiteEventStore(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert "caused by DatabaseError" in caught.value.diagnostics()


def test_another_applications_database_is_refused(path: Path) -> None:
    with raw(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    with pytest.raises(ProgrammingError, match="not a backchannel store"):
        SQLiteEventStore(path)
    with raw(path) as conn:  # and it was left alone
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["accounts"]


def test_a_path_that_cannot_be_opened_is_operational(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match="open"):
        SQLiteEventStore(tmp_path / "missing-directory" / "store.db")


def test_in_memory_database_for_tests() -> None:
    with SQLiteEventStore(":memory:") as store:
        writer = writer_for(store)
        writer.open_track("t")
        writer.append("t", drafts(3))
        assert store.size("t") == 3
        assert repr(store) == "SQLiteEventStore(':memory:', open)"
    assert repr(store) == "SQLiteEventStore(':memory:', closed)"


def test_two_store_objects_on_one_file_see_each_others_writes(path: Path) -> None:
    with SQLiteEventStore(path) as first, SQLiteEventStore(path) as second:
        one, two = writer_for(first, b"one"), writer_for(second, b"two")
        one.open_track("t")
        with pytest.raises(ConflictError, match="already exists"):
            two.open_track("t")
        one.append("t", drafts(2))
        two.append("t", drafts(3, 2))
        one.append("t", drafts(1, 5))
        entries = list(second.read("t"))
        assert [e.seq for e in entries] == list(range(6))
        assert first.root("t") == second.root("t") == merkle.root([e.leaf_hash for e in entries])
        assert [c.checkpoint.size for c in first.checkpoints("t")] == [2, 5, 6]


class RacedStore(SQLiteEventStore):
    """A store on which another store object commits just before each append."""

    def __init__(self, path: Path, rival: SQLiteEventStore) -> None:
        super().__init__(path)
        self.rival = rival

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        writer_for(self.rival, b"winner").append(batch.track, drafts(1, 50))
        super().append(batch, expected_size)


def test_two_store_objects_on_one_file_the_second_writer_conflicts(path: Path) -> None:
    with SQLiteEventStore(path) as first, RacedStore(path, rival=first) as second:
        writer_for(first).open_track("t")
        writer_for(first).append("t", drafts(2))
        with pytest.raises(ConflictError, match="expected size 2, but the track has 3") as caught:
            writer_for(second, b"loser").append("t", drafts(4, 100))
        assert (caught.value.expected, caught.value.actual) == (2, 3)
        entries = list(second.read("t"))
        assert [e.seq for e in entries] == [0, 1, 2]
        assert first.root("t") == merkle.root([e.leaf_hash for e in entries])
        with raw(path) as conn:  # nothing of the loser's batch is anywhere
            assert conn.execute("SELECT count(*) FROM entries").fetchone() == (3,)
            assert conn.execute("SELECT count(*) FROM nodes").fetchone() == (4,)  # 3 leaves + (1, 0)
            assert conn.execute("SELECT size FROM checkpoints ORDER BY size").fetchall() == [(2,), (3,)]


def test_a_locked_database_surfaces_operational_error(path: Path) -> None:
    with SQLiteEventStore(path, busy_timeout=0.05) as store:
        writer = writer_for(store)
        writer.open_track("t")
        with raw(path) as locker:
            locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(OperationalError, match="locked") as caught:
                writer.append("t", drafts(2))
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            with pytest.raises(OperationalError):
                store.create_track("u", "o/u", "key")
            assert store.size("t") == 0  # readers are not blocked in WAL mode
            locker.execute("ROLLBACK")
        writer.append("t", drafts(2))
        assert store.size("t") == 2


def test_a_primary_key_collision_is_a_conflict_and_rolls_back(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(2))
    with raw(path) as conn:  # a row written behind the store's back, at the next leaf
        conn.execute("INSERT INTO nodes VALUES (1, 0, 2, zeroblob(32))")
    with pytest.raises(ConflictError, match="already exist") as caught:
        writer.append("t", drafts(3, 2))
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    with raw(path) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM nodes").fetchone() == (4,)  # 3 stored + the intruder
        assert conn.execute("SELECT size FROM tracks").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (1,)


def test_reading_a_5000_entry_track_streams(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    for first in range(0, 5000, 500):
        writer.append("t", drafts(500, first))
    entries = store.read("t")
    assert next(entries).seq == 0
    # Mid-stream, no lock or read transaction is held: this object and another can write.
    writer.append("t", drafts(1, 5000))
    with SQLiteEventStore(path) as other:
        writer_for(other, b"other").append("t", drafts(1, 5001))
    rest = list(entries)
    assert [e.seq for e in rest] == list(range(1, 5000))  # the range was fixed at the call
    assert all(e.computed_leaf_hash() == e.leaf_hash for e in rest[::97])
    assert [e.seq for e in store.read("t", 4990, 6000)] == list(range(4990, 5002))
    assert rest[-1].decode().signed.event.body == {"n": 4999}


def test_a_missing_entry_row_is_reported_while_reading(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(4))
    with raw(path) as conn:
        conn.execute("DELETE FROM entries WHERE seq = 2")
    entries = store.read("t")
    assert [next(entries).seq, next(entries).seq] == [0, 1]
    with pytest.raises(ProgrammingError, match="entry 2"):
        next(entries)


def test_a_malformed_stored_checkpoint_is_a_verification_error(store: SQLiteEventStore, path: Path) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(1))
    with raw(path) as conn:
        conn.execute("UPDATE checkpoints SET note = 'garbage'")
    with pytest.raises(VerificationError, match="checkpoint of size 1 is malformed") as caught:
        store.latest_checkpoint("t")
    assert caught.value.index == 0  # the last entry the checkpoint covers, as LogVerifier names it
    with pytest.raises(VerificationError):
        list(store.checkpoints("t"))


def test_a_checkpoint_stored_under_another_size_is_a_verification_error(
    store: SQLiteEventStore, path: Path
) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(2))
    writer.append("t", drafts(3, 2))
    with raw(path) as conn:
        conn.execute(
            "UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 2) WHERE size = 5"
        )
    with pytest.raises(VerificationError, match="stored at size 5 says size 2") as caught:
        store.latest_checkpoint("t")
    assert caught.value.index == 4


def test_get_nodes_spanning_several_queries(store: SQLiteEventStore) -> None:
    writer = writer_for(store)
    writer.open_track("t")
    writer.append("t", drafts(150))
    leaves = [e.leaf_hash for e in store.read("t")]
    ids = [(0, index) for index in range(150)]
    assert store.get_nodes("t", ids) == leaves
    with pytest.raises(NotFoundError, match="level 0, index 150"):
        store.get_nodes("t", [*ids, (0, 150)])
    with pytest.raises(NotFoundError, match=r"index 18446744073709551616"):
        store.get_nodes("t", [(0, 1 << 64)])


def test_closed_store_refuses_work_with_a_clear_message(path: Path) -> None:
    store = SQLiteEventStore(path)
    store.close()
    with pytest.raises(ProgrammingError, match="is closed"):
        store.list_tracks()


def test_annexes_survive_close_and_reopen(path: Path) -> None:
    with SQLiteEventStore(path) as store:
        store.create_track("t", "o/t", "key")
        store.put_annex("t", b"sealed bytes", "usa")
    with SQLiteEventStore(path) as store:
        annex = store.get_annex("t", hashlib.sha256(b"sealed bytes").digest())
        assert annex is not None
        assert (annex.data, annex.uploaders) == (b"sealed bytes", ("usa",))


def test_a_version_1_database_gains_the_annex_tables_and_keeps_its_log(path: Path) -> None:
    """A store written before annexes existed (schema 1) is migrated on open, its entries intact."""
    with SQLiteEventStore(path) as store:
        writer = writer_for(store)
        writer.open_track("t")
        writer.append("t", drafts(3))
    with raw(path) as conn:  # back to schema 1, as an older release left it
        for table in DELIVERY_STATE_TABLES:  # 0007 (ADR-0059)
            conn.execute(f"DROP TABLE {table}")
        undo_encryption_tables(conn)
        conn.execute("DROP TABLE split_views")
        conn.execute("DROP TABLE replay_marks")
        conn.execute("DROP TABLE cosignatures")
        conn.execute("DROP TABLE annex_uploaders")
        conn.execute("DROP TABLE annexes")
        conn.execute("DELETE FROM schema_version WHERE version > 1")
    with SQLiteEventStore(path) as store:
        assert store.size("t") == 3
        assert store.put_annex("t", b"x", "usa") is True
    with raw(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m.version for m in migrations()]


def test_a_version_2_database_gains_the_cosignature_table_and_keeps_its_checkpoints(path: Path) -> None:
    """A store written before witness cosignatures existed (schema 2) is migrated on open."""
    with SQLiteEventStore(path) as store:
        writer = writer_for(store)
        writer.open_track("t")
        note = writer.append("t", drafts(2)).checkpoint
    with raw(path) as conn:  # back to schema 2
        for table in DELIVERY_STATE_TABLES:  # 0007 (ADR-0059)
            conn.execute(f"DROP TABLE {table}")
        undo_encryption_tables(conn)
        conn.execute("DROP TABLE split_views")
        conn.execute("DROP TABLE replay_marks")
        conn.execute("DROP TABLE cosignatures")
        conn.execute("DELETE FROM schema_version WHERE version > 2")
    with SQLiteEventStore(path) as store:
        assert store.latest_checkpoint("t") == note
        assert store.put_cosignature("t", StoredCosignature(2, "norway/principal", 1, "line")) is True
        assert store.latest_cosigned_size("t") == 2
    with raw(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions[-1] == len(migrations())  # 3, then 4 (replay marks, issue #8)
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):  # a cosignature needs its checkpoint
            conn.execute(
                "INSERT INTO cosignatures (track_id, size, cosigner, timestamp, line) VALUES (1, 99, 'w', 1, 'x')"
            )


def test_a_version_3_database_gains_the_replay_marks(path: Path) -> None:
    """Issue #8: schema 4 keeps replay marks; a mark only moves forward, and old ones are dropped."""
    with SQLiteEventStore(path) as store:
        writer_for(store).open_track("t")
    with raw(path) as conn:  # back to schema 3
        for table in DELIVERY_STATE_TABLES:  # 0007 (ADR-0059)
            conn.execute(f"DROP TABLE {table}")
        undo_encryption_tables(conn)
        conn.execute("DROP TABLE split_views")
        conn.execute("DROP TABLE replay_marks")
        conn.execute("DELETE FROM schema_version WHERE version > 3")
    with SQLiteEventStore(path) as store:
        store.raise_replay_mark("t", "k", 100)
        store.raise_replay_mark("t", "k", 90)  # an earlier one does not move it back
        store.raise_replay_mark("t", "j", 50)
        assert store.replay_marks(0) == {("t", "k"): 100, ("t", "j"): 50}
        assert store.replay_marks(60) == {("t", "k"): 100}
        assert store.replay_marks(0) == {("t", "k"): 100}  # the old one is gone
        assert store.quick_check() == []
        assert store.quick_check(full=True) == []


def test_a_version_4_database_gains_the_split_view_alarms_and_keeps_them_across_reopen(path: Path) -> None:
    """Issue #12: schema 5 keeps witnesses' split-view alarms, durably."""
    with SQLiteEventStore(path) as store:
        writer_for(store).open_track("t")
    with raw(path) as conn:  # back to schema 4
        for table in DELIVERY_STATE_TABLES:  # 0007 (ADR-0059)
            conn.execute(f"DROP TABLE {table}")
        undo_encryption_tables(conn)
        conn.execute("DROP TABLE split_views")
        conn.execute("DELETE FROM schema_version WHERE version > 4")
    alarm = StoredSplitView("w/member", 7, "old note", "new note", "off the log")
    with SQLiteEventStore(path) as store:
        assert store.put_split_view("t", alarm) is True
    with SQLiteEventStore(path) as store:
        assert store.split_views("t") == [alarm]
        assert store.put_split_view("t", alarm) is False
    with raw(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m.version for m in migrations()]
