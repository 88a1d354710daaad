"""The feed store: the shared contract on both adapters, and SQLite's own behaviour."""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backchannel.errors import OperationalError, ProgrammingError
from backchannel.forecast.store import FeedStore, MemoryFeedStore, SQLiteFeedStore
from backchannel.testing.feed_contracts import FeedStoreContract, FeedStoreFactory, Tamper, sample_reports

T0 = datetime(2022, 1, 1, tzinfo=UTC)


def _altered(body: str) -> str:
    data = json.loads(body)
    data["fatalities"]["best"] += 100
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class TestMemoryFeedStore(FeedStoreContract):
    @pytest.fixture
    def store_factory(self) -> FeedStoreFactory:
        store = MemoryFeedStore()
        return lambda: store

    @pytest.fixture
    def tamper(self) -> Tamper:
        def alter(store: FeedStore, seq: int) -> None:
            assert isinstance(store, MemoryFeedStore)
            body = next(r for r in store._rows if r[0] == seq)[2]
            store.unsafe_replace_body(seq, _altered(body))

        return alter


class TestSQLiteFeedStore(FeedStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[FeedStoreFactory]:
        opened: list[SQLiteFeedStore] = []

        def factory() -> FeedStore:
            opened.append(SQLiteFeedStore(tmp_path / "feeds.db"))
            return opened[-1]

        yield factory
        for store in opened:
            store.close()

    @pytest.fixture
    def tamper(self, tmp_path: Path) -> Tamper:
        def alter(store: FeedStore, seq: int) -> None:
            with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
                (body,) = db.execute("SELECT body FROM reports WHERE seq = ?", (seq,)).fetchone()
                db.execute("DROP TRIGGER reports_no_update")  # what an attacker with the file can do
                db.execute("UPDATE reports SET body = ? WHERE seq = ?", (_altered(body), seq))

        return alter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteFeedStore]:
    with SQLiteFeedStore(tmp_path / "feeds.db") as opened:
        yield opened


def test_triggers_refuse_update_and_delete(store: SQLiteFeedStore, tmp_path: Path) -> None:
    store.append(sample_reports(2), T0)
    store.set_reliability("wire", 0.5, T0)
    with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
        for sql in (
            "UPDATE reports SET batch = 'x'",
            "DELETE FROM reports",
            "UPDATE reliability SET reliability = 1",
            "DELETE FROM reliability",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)
    assert store.size() == 2


def test_a_deleted_row_is_caught(store: SQLiteFeedStore, tmp_path: Path) -> None:
    store.append(sample_reports(4), T0)
    with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
        db.execute("DROP TRIGGER reports_no_delete")
        db.execute("DELETE FROM reports WHERE seq = 2")
    audit = store.check()
    assert audit.bad_seq == 3
    assert "missing" in audit.problem


def test_a_rehashed_row_breaks_the_chain(store: SQLiteFeedStore, tmp_path: Path) -> None:
    # an attacker who also recomputes the row's digest is caught by the chain
    reports = sample_reports(3)
    store.append(reports, T0)
    forged = sample_reports(3, source="forger")[1]
    with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
        db.execute("DROP TRIGGER reports_no_update")
        body = json.dumps(forged.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        db.execute("UPDATE reports SET body = ?, digest = ? WHERE seq = 2", (body, forged.digest()))
    audit = store.check()
    assert audit.bad_seq == 2
    assert "chain" in audit.problem


def test_a_non_report_body_is_caught(store: SQLiteFeedStore, tmp_path: Path) -> None:
    import hashlib

    store.append(sample_reports(1), T0)
    with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
        db.execute("DROP TRIGGER reports_no_update")
        body = '{"report_id":"x"}'
        db.execute(
            "UPDATE reports SET body = ?, digest = ?", (body, hashlib.sha256(body.encode()).hexdigest())
        )
    audit = store.check()
    assert audit.bad_seq == 1
    assert "not a valid report" in audit.problem


def test_migrations_are_recorded_and_rerun_safely(tmp_path: Path) -> None:
    SQLiteFeedStore(tmp_path / "feeds.db").close()
    with SQLiteFeedStore(tmp_path / "feeds.db") as again:
        assert again.size() == 0
    with closing(sqlite3.connect(tmp_path / "feeds.db")) as db:
        assert db.execute("SELECT version, name FROM schema_version").fetchall() == [
            (1, "0001_feed_store.sql")
        ]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SQLiteFeedStore(tmp_path / "feeds.db").close()
    with closing(sqlite3.connect(tmp_path / "feeds.db", isolation_level=None)) as db:
        db.execute("INSERT INTO schema_version (version, name) VALUES (99, '0099_future.sql')")
    with pytest.raises(ProgrammingError, match="newer"):
        SQLiteFeedStore(tmp_path / "feeds.db")


def test_not_a_database_is_a_programming_error(tmp_path: Path) -> None:
    path = tmp_path / "feeds.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProgrammingError):
        SQLiteFeedStore(path)


def test_an_unopenable_path_is_operational(tmp_path: Path) -> None:
    with pytest.raises(OperationalError):
        SQLiteFeedStore(tmp_path / "missing-dir" / "feeds.db")


def test_reads_stream_in_chunks(store: SQLiteFeedStore) -> None:
    store.append(sample_reports(1200), T0)
    assert [s.seq for s in store.reports(after=1100)] == list(range(1101, 1201))
    assert store.verify().size == 1200
