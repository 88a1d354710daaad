"""Encryption at rest with the PostgreSQL store from the command line (ADR-0057).

``store rotate-key --store URL`` (or ``BACKCHANNEL_STORE``) rotates the data
keys kept in PostgreSQL; ``store migrate`` reads an encrypted SQLite source
with its master key and seals the copy, and refuses an encrypted source
without one. A fresh schema per test.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.errors import ConfigurationError
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.config import Settings, open_log
from backchannel.service.encryption import create_master_key
from backchannel.service.log import Draft
from backchannel.service.store_copy import migrate_store
from backchannel.store.encryption import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, MasterKeySource
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing.world import seeded_keys

ALICE = seeded_keys(5, "us/alice")
SECRET = "Casablanca-quota-clause-8861"
NO_KEY = {MASTER_KEY_ENV: "", MASTER_KEY_FILE_ENV: "", "BACKCHANNEL_STORE": ""}


@pytest.fixture(autouse=True)
def no_key_or_store_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NO_KEY:
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env={**NO_KEY, "COLUMNS": "400", **(env or {})})
    assert result.exit_code == code, result.output
    return result.output


def fill(settings: Settings) -> None:
    """Two tracks whose entries verify (the author's key registered first), and an annex."""
    with open_log(settings) as node:
        body = {
            "member": ALICE.name,
            "ed25519": ALICE.signing.verifying_key.to_text(),
            "x25519": ALICE.agreement.to_text(),
        }
        for track in ("alpha", "beta"):
            node.writer.open_track(track)
            node.writer.append(track, [Draft(KEY_REGISTERED, ALICE.name, body, ALICE.signing)])
            node.writer.append(
                track, [Draft("statement.made", ALICE.name, {"text": SECRET}, ALICE.signing)] * 2
            )
        node.store.put_annex("alpha", f"annex {SECRET}".encode(), "usa")


def key_versions(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT track, version FROM data_keys ORDER BY track, version").fetchall()


def test_rotate_key_on_a_postgresql_store_by_option_or_environment(tmp_path: Path, postgres_url: str) -> None:
    key = tmp_path / "master.key"
    create_master_key(key)
    fill(Settings(data_dir=tmp_path / "data", store_url=postgres_url, master_key=MasterKeySource(path=key)))
    assert key_versions(postgres_url) == [("alpha", 1), ("beta", 1)]
    keyed = {MASTER_KEY_FILE_ENV: str(key)}
    rotated = invoke("store", "rotate-key", "--store", postgres_url, env=keyed)
    assert "track alpha: new data key v2" in rotated
    assert "track beta: new data key v2" in rotated
    one = invoke("store", "rotate-key", "-t", "beta", env={**keyed, "BACKCHANNEL_STORE": postgres_url})
    assert one.strip() == "track beta: new data key v3"
    assert key_versions(postgres_url) == [("alpha", 1), ("alpha", 2), ("beta", 1), ("beta", 2), ("beta", 3)]
    wrong = tmp_path / "wrong.key"
    create_master_key(wrong)
    refused = invoke("store", "rotate-key", "--store", postgres_url, "--master-key-file", str(wrong), code=1)
    assert "wrong master key" in refused
    assert "rotate-key needs the master key" in invoke("store", "rotate-key", "--store", postgres_url, code=1)


def test_migrate_reads_an_encrypted_source_with_its_key_and_seals_the_copy(
    tmp_path: Path, postgres_url: str
) -> None:
    key, data = tmp_path / "master.key", tmp_path / "data"
    create_master_key(key)
    fill(Settings(data_dir=data, master_key=MasterKeySource(path=key)))
    with pytest.raises(ConfigurationError, match=f"--from {data} is encrypted at rest: give its master key"):
        migrate_store(data, postgres_url)
    refused = invoke("store", "migrate", "--from", str(data), "--to", postgres_url, code=1)
    assert "encrypted at rest" in " ".join(refused.replace("\u2502", " ").split())
    with psycopg.connect(postgres_url) as conn:  # refused before the target was even opened
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchone() == (0,)
    copied = invoke(
        "store", "migrate", "--from", str(data), "--to", postgres_url, "--master-key-file", str(key)
    )
    assert "OK: 2 tracks and 0 replay marks copied and verified" in copied
    assert f"the copy is encrypted at rest with the master key from file {key}" in copied
    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute("SELECT DISTINCT key_version FROM entries").fetchall()
        annexes = conn.execute("SELECT DISTINCT key_version FROM annexes").fetchall()
        signed = b"".join(bytes(row[0]) for row in conn.execute("SELECT signed FROM entries").fetchall())
    assert (versions, annexes) == ([(1,)], [(1,)])
    assert SECRET.encode() not in signed
    with pytest.raises(ConfigurationError, match="is encrypted at rest"):
        PostgresEventStore(postgres_url)


def test_migrate_with_a_key_and_a_plain_source_seals_the_copy_and_leaves_the_source_plain(
    tmp_path: Path, postgres_url: str
) -> None:
    key, data = tmp_path / "master.key", tmp_path / "data"
    create_master_key(key)
    fill(Settings(data_dir=data))
    report = migrate_store(data, postgres_url, master_key=MasterKeySource(path=key))
    assert [t.size for t in report.tracks] == [3, 3]
    with closing(sqlite3.connect(data / "backchannel.sqlite3")) as conn:
        assert conn.execute("SELECT count(*) FROM master_key_check").fetchone() == (0,)
        assert conn.execute("SELECT DISTINCT key_version FROM entries").fetchall() == [(None,)]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT DISTINCT key_version FROM entries").fetchall() == [(1,)]


def test_migrate_with_a_key_reads_a_source_without_key_tables_as_plain(
    tmp_path: Path, postgres_url: str
) -> None:
    key, data = tmp_path / "master.key", tmp_path / "data"
    create_master_key(key)
    data.mkdir()
    # A store file with no tables yet (as from before migration 0006, it has no master key check).
    # Rewinding a real store's schema would break once later migrations exist.
    sqlite3.connect(data / "backchannel.sqlite3").close()
    report = migrate_store(data, postgres_url, master_key=MasterKeySource(path=key))
    assert report.tracks == ()
    with psycopg.connect(postgres_url) as conn:  # the target was opened with the key: it is now encrypted
        assert conn.execute("SELECT count(*) FROM master_key_check").fetchone() == (1,)
