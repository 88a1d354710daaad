"""PostgreSQL-specific behaviour of PostgresEventStore (the shared contract is in tests/contract)."""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from backchannel.errors import OperationalError, ProgrammingError
from backchannel.service.integrity import DamagedStoreError, check_store
from backchannel.store._pg_schema import redact
from backchannel.store.postgres import PostgresEventStore, migrations
from backchannel.testing.postgres import require_postgres, schema_url, server_url


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(postgres_url, max_size=2) as opened:
        yield opened


def raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def test_migrations_are_numbered_and_mirror_the_sqlite_deltas() -> None:
    from backchannel.store.sqlite import migrations as sqlite_migrations

    names = [m.name for m in migrations()]
    assert names == [m.name for m in sqlite_migrations()][: len(names)]
    assert [m.version for m in migrations()] == list(range(1, len(names) + 1))


def test_opening_migrates_once_and_records_every_delta(postgres_url: str) -> None:
    PostgresEventStore(postgres_url).close()
    PostgresEventStore(postgres_url).close()  # a second open applies nothing
    with raw(postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in migrations()]


def test_a_schema_from_a_newer_version_is_refused(store: PostgresEventStore, postgres_url: str) -> None:
    with raw(postgres_url) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (99, '0099_future.sql')")
    with pytest.raises(ProgrammingError, match="schema version 99, newer than this code knows"):
        PostgresEventStore(postgres_url)


def test_a_schema_that_is_not_ours_is_refused(postgres_url: str) -> None:
    with raw(postgres_url) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(ProgrammingError, match=r"not a backchannel store .*invoices"):
        PostgresEventStore(postgres_url)


def test_a_search_path_without_an_existing_schema_is_refused() -> None:
    url = schema_url(server_url(), "bc_test_no_such_schema")
    try:
        raw(server_url()).close()
    except psycopg.Error:
        pytest.skip("PostgreSQL is not reachable")
    with pytest.raises(ProgrammingError, match="no schema on the search_path exists"):
        PostgresEventStore(url)


def test_an_unreachable_server_is_an_operational_error_without_the_password() -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:1/db"
    with pytest.raises(
        OperationalError, match=r"cannot connect to PostgreSQL at postgresql://alice:\*\*\*@"
    ) as e:
        PostgresEventStore(url, timeout=1)
    assert "s3cret" not in str(e.value)


def test_a_malformed_url_is_a_programming_error() -> None:
    with pytest.raises(ProgrammingError, match="bad PostgreSQL URL"):
        PostgresEventStore("postgresql://host/db?no_such_option=1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/d", "postgresql://u:***@h:5432/d"),
        (
            "postgresql://u@h/d?password=pw&sslmode=require",
            "postgresql://u@h/d?password=%2A%2A%2A&sslmode=require",
        ),
        ("postgresql://h/d", "postgresql://h/d"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("host=h password='p w' dbname=d", "host=h password=*** dbname=d"),
    ],
)
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_replay_marks_keep_the_latest_and_drop_the_old(store: PostgresEventStore) -> None:
    store.raise_replay_mark("t", "k1", 100)
    store.raise_replay_mark("t", "k1", 90)  # older: ignored
    store.raise_replay_mark("t", "k2", 50)
    store.raise_replay_mark("u", "k1", 200)
    assert store.replay_marks(0) == {("t", "k1"): 100, ("t", "k2"): 50, ("u", "k1"): 200}
    assert store.replay_marks(60) == {("t", "k1"): 100, ("u", "k1"): 200}
    assert store.replay_marks(0) == {("t", "k1"): 100, ("u", "k1"): 200}  # k2 was deleted


def test_quick_check_passes_on_a_sound_schema(store: PostgresEventStore) -> None:
    assert store.quick_check() == []
    assert store.quick_check(full=True) == []
    assert check_store(store).damaged == {}


def test_quick_check_names_a_missing_table_and_a_wrong_version(
    store: PostgresEventStore, postgres_url: str
) -> None:
    with raw(postgres_url) as conn:
        conn.execute("DROP TABLE split_views")
        conn.execute("DELETE FROM schema_version WHERE version >= 5")
    problems = store.quick_check()
    assert problems == [f"schema version is 4, expected {len(migrations())}", "table split_views is missing"]
    with pytest.raises(DamagedStoreError, match="PostgreSQL schema check.*split_views is missing"):
        check_store(store)


def test_repr_and_url_hide_the_password(store: PostgresEventStore) -> None:
    assert "open" in repr(store)
    assert "***" not in store.url  # the test server has no password
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(ProgrammingError, match="is closed"):
        store.list_tracks()


def test_open_is_the_constructor(postgres_url: str) -> None:
    with PostgresEventStore.open(postgres_url, min_size=1, max_size=1, timeout=5) as store:
        assert store.create_track("t", "o/t", "key").size == 0
        assert [t.track for t in store.list_tracks()] == ["t"]


def test_a_lost_connection_is_an_operational_error_and_the_pool_recovers(postgres_url: str) -> None:
    name = "bc_test_" + uuid.uuid4().hex[:12]
    url = f"{postgres_url}&application_name={name}"
    with PostgresEventStore(url, min_size=1, max_size=1) as store:
        store.create_track("t", "o/t", "key")
        with raw(postgres_url) as conn:  # only this test's own sessions, found by their application name
            killed = conn.execute(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s) AS done",
                (name,),
            ).fetchone()
        assert killed == (1,)
        with pytest.raises(OperationalError, match=r"PostgreSQL failed to read track 't' \(postgresql://"):
            store.get_track("t")
        assert store.get_track("t").size == 0  # the broken connection was replaced


def test_an_unreachable_test_server_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/test"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: a test that needs PostgreSQL fails without it"):
        require_postgres(unreachable)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not reachable at"):
        require_postgres(unreachable)


def test_schema_url_adds_the_search_path_option() -> None:
    assert schema_url("postgresql://h/d", "s1") == "postgresql://h/d?options=-csearch_path%3Ds1"
    assert schema_url("postgresql://h/d?sslmode=disable", "s1") == (
        "postgresql://h/d?sslmode=disable&options=-csearch_path%3Ds1"
    )


def _plan_rows(plan: Any) -> list[int]:
    """The actual rows of every node of an EXPLAIN ANALYZE plan (times its loops)."""
    rows = [int(plan["Actual Rows"]) * int(plan["Actual Loops"])]
    for child in plan.get("Plans", []):
        rows.extend(_plan_rows(child))
    return rows


def test_reading_a_few_entries_of_a_long_track_touches_a_few_rows(
    store: PostgresEventStore, postgres_url: str
) -> None:
    """Found by bench/scaleout.py: before any ANALYZE, each read walked every leaf of the track."""
    from backchannel.store._pg_sql import SELECT_ENTRIES

    store.create_track("long", "o", "k")
    with raw(postgres_url) as conn:
        conn.execute(
            "INSERT INTO entries (track_id, seq, signed, salt) SELECT t.id, g, '\\x00', '\\x00'"
            " FROM tracks AS t, generate_series(0, 19999) AS g WHERE t.name = 'long'"
        )
        conn.execute(
            "INSERT INTO nodes (track_id, level, idx, hash) SELECT t.id, 0, g, sha256(int8send(g))"
            " FROM tracks AS t, generate_series(0, 19999) AS g WHERE t.name = 'long'"
        )
        track_id = conn.execute("SELECT id FROM tracks WHERE name = 'long'").fetchone()
        assert track_id is not None
        params = {"track": track_id[0], "start": 15000, "stop": 15003}
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + SELECT_ENTRIES, params).fetchone()
    assert row is not None
    document: Any = row[0]
    plan = document[0]
    assert max(_plan_rows(plan["Plan"])) <= 3 * 3, plan  # not the 20,000 leaves
