"""``backchannel store migrate``: SQLite to PostgreSQL, verified; and a pg_dump / restore round trip."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.errors import ConfigurationError, ConflictError, VerificationError
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.config import Settings, open_log
from backchannel.service.export import verify_store
from backchannel.service.log import Draft
from backchannel.service.store_copy import migrate_store
from backchannel.store.base import StoredCosignature, StoredSplitView
from backchannel.store.postgres import PostgresEventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.postgres import fresh_schema
from backchannel.testing.world import seeded_keys

ALICE = seeded_keys(5, "us/alice")
BETAS_NOTE = (  # alpha's first checkpoint replaced by beta's: a valid note, of another track
    "UPDATE checkpoints SET note = (SELECT c.note FROM checkpoints AS c JOIN tracks AS t"
    " ON t.id = c.track_id WHERE t.name = 'beta' AND c.size = 1)"
    " WHERE size = 1 AND track_id = (SELECT id FROM tracks WHERE name = 'alpha')"
)


def build_data_dir(data_dir: Path) -> dict[str, int]:
    """A data directory with two verifiable tracks, an empty one, annexes, cosignatures, alarms, marks."""
    sizes = {}
    with open_log(Settings(data_dir=data_dir)) as node:
        writer, store = node.writer, node.store
        for track in ("alpha", "beta", "empty"):
            writer.open_track(track)
        key_body = {
            "member": ALICE.name,
            "ed25519": ALICE.signing.verifying_key.to_text(),
            "x25519": ALICE.agreement.to_text(),
        }
        for track, batches in (("alpha", (1, 3, 2)), ("beta", (4,))):
            writer.append(track, [Draft(KEY_REGISTERED, ALICE.name, key_body, ALICE.signing)])
            for n, count in enumerate(batches):
                drafts = [
                    Draft("statement.made", ALICE.name, {"n": n, "i": i}, ALICE.signing) for i in range(count)
                ]
                writer.append(track, drafts)
            sizes[track] = store.size(track)
        assert store.put_annex("alpha", b"sealed one", "usa")
        assert store.put_annex("alpha", b"sealed one", "iran")
        assert store.put_annex("alpha", b"sealed two", "iran")
        assert store.put_annex("beta", b"sealed one", "usa")
        store.put_cosignature("alpha", StoredCosignature(5, "witness/w1", 100, "\u2014 witness/w1 AAAA"))
        store.put_cosignature("alpha", StoredCosignature(5, "witness/w2", 101, "\u2014 witness/w2 BBBB"))
        store.put_cosignature("alpha", StoredCosignature(7, "witness/w1", 102, "\u2014 witness/w1 CCCC"))
        store.put_split_view(
            "alpha", StoredSplitView("witness/w1", 200, "old note", "new note", "off the log")
        )
        assert isinstance(store, SQLiteEventStore)
        store.raise_replay_mark("alpha", "ed25519:aa", 4_000_000_000)
        store.raise_replay_mark("beta", "ed25519:bb", 4_000_000_001)
    return sizes


def test_store_migrate_copies_every_track_and_verifies_the_copy(tmp_path: Path, postgres_url: str) -> None:
    sizes = build_data_dir(tmp_path / "data")
    result = CliRunner().invoke(
        app, ["store", "migrate", "--from", str(tmp_path / "data"), "--to", postgres_url]
    )
    assert result.exit_code == 0, result.output
    assert "OK: 3 tracks and 2 replay marks copied and verified" in result.output
    assert "alpha: 7 entries, 4 checkpoints, 2 annexes, 3 cosignatures, 1 split-view alarms" in result.output
    with open_log(Settings(data_dir=tmp_path / "data")) as source, PostgresEventStore(postgres_url) as copy:
        assert [t.track for t in copy.list_tracks()] == ["alpha", "beta", "empty"]
        for track, size in sizes.items():
            assert copy.size(track) == size
            assert copy.root(track) == source.store.root(track)
            assert list(copy.read(track)) == list(source.store.read(track))
            verify_store(copy, track)
        annex = copy.get_annex("alpha", _digest(b"sealed one"))
        assert annex is not None
        assert annex.uploaders == ("usa", "iran")
        assert copy.latest_cosigned_size("alpha", 2) == 5
        assert copy.split_views("alpha")[0].reason == "off the log"
        assert copy.replay_marks(0) == {
            ("alpha", "ed25519:aa"): 4_000_000_000,
            ("beta", "ed25519:bb"): 4_000_000_001,
        }

    # running it again resumes (nothing to add) and verifies again
    again = migrate_store(tmp_path / "data", postgres_url)
    assert [(t.track, t.resumed_at) for t in again.tracks] == [("alpha", 7), ("beta", 5), ("empty", 0)]


def test_a_target_with_a_different_log_is_refused(tmp_path: Path, postgres_url: str) -> None:
    build_data_dir(tmp_path / "data")
    with PostgresEventStore(postgres_url) as target:
        target.create_track("beta", "someone.else/beta", "other+00000000+key")
    with pytest.raises(ConflictError, match="refusing to merge two logs"):
        migrate_store(tmp_path / "data", postgres_url)


def test_migrate_refuses_a_directory_without_a_store_and_a_bad_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--from .*no SQLite store"):
        migrate_store(tmp_path, "postgresql://postgres@127.0.0.1/test")
    result = CliRunner().invoke(app, ["store", "migrate", "--from", str(tmp_path), "--to", "sqlite:///x"])
    assert result.exit_code == 1
    assert "--store" in result.output


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_pg_dump_of_a_schema_restores_into_another_schema_and_verifies(
    tmp_path: Path, postgres_url: str
) -> None:
    sizes = build_data_dir(tmp_path / "data")
    migrate_store(tmp_path / "data", postgres_url)
    server, schema = postgres_url.split("?", 1)[0], postgres_url.rsplit("%3D", 1)[1]
    dump = tmp_path / "store.sql"
    subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", f"--schema={schema}", f"--file={dump}", server],
        check=True,
        timeout=60,
    )
    with fresh_schema(prefix="bc_restore") as restored_url:
        restored = restored_url.rsplit("%3D", 1)[1]
        with psycopg.connect(server, autocommit=True) as conn:  # the dump creates the schema itself
            conn.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(restored)))
        # the schema names are unique random tokens: renaming them in the dump renames nothing else
        renamed = tmp_path / "restored.sql"
        renamed.write_text(dump.read_text(encoding="utf-8").replace(schema, restored), encoding="utf-8")
        subprocess.run(
            ["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", f"--file={renamed}", server],
            check=True,
            timeout=60,
            capture_output=True,
        )
        with PostgresEventStore(restored_url) as copy, PostgresEventStore(postgres_url) as original:
            assert copy.quick_check(full=True) == []
            for track, size in sizes.items():
                assert copy.size(track) == size
                assert copy.root(track) == original.root(track)
                assert [c.to_text() for c in copy.checkpoints(track)] == [
                    c.to_text() for c in original.checkpoints(track)
                ]
                verify_store(copy, track)
            assert copy.replay_marks(0) == original.replay_marks(0)
            # the identity sequences were restored too: new rows go after the restored ones
            assert copy.put_annex("alpha", b"after the restore", "usa")
            assert copy.get_annex("alpha", _digest(b"after the restore")) is not None
            writer_track = copy.get_track("empty")
            assert writer_track.size == 0


def test_a_target_holding_other_entries_under_the_same_log_key_is_refused(
    tmp_path: Path, postgres_url: str
) -> None:
    build_data_dir(tmp_path / "one")
    (tmp_path / "two").mkdir(mode=0o700)
    shutil.copy2(tmp_path / "one" / "log.key", tmp_path / "two" / "log.key")
    build_data_dir(tmp_path / "two")  # the same events and log key, other salts: other leaves
    migrate_store(tmp_path / "two", postgres_url)
    with pytest.raises(ConflictError, match="entries that differ from the source's"):
        migrate_store(tmp_path / "one", postgres_url)


@pytest.mark.parametrize(
    ("tamper", "differ"),
    [
        ("UPDATE cosignatures SET line = line || 'X'", "cosignatures"),
        ("UPDATE split_views SET reason = 'edited'", "split-view alarms"),
        (BETAS_NOTE, "checkpoints"),
        ("UPDATE annexes SET data = 'edited'::bytea", "annexes"),
    ],
)
def test_a_copy_changed_behind_our_back_fails_verification(
    tmp_path: Path, postgres_url: str, tamper: str, differ: str
) -> None:
    build_data_dir(tmp_path / "data")
    migrate_store(tmp_path / "data", postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(tamper.encode())
    with pytest.raises(VerificationError, match=f"the copy's {differ} differ from the source's"):
        migrate_store(tmp_path / "data", postgres_url)
