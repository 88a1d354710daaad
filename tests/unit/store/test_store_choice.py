"""Which store open_log opens: SQLite in the data directory, or PostgreSQL at a URL (issue #14)."""

from pathlib import Path

import psycopg
import pytest

from backchannel.errors import ConfigurationError
from backchannel.service.config import Settings, open_log
from backchannel.service.encryption import create_master_key
from backchannel.service.log import Draft
from backchannel.store.encryption import MasterKeySource
from backchannel.testing.world import seeded_keys

ALICE = seeded_keys(5, "us/alice")


def test_with_a_master_key_the_postgresql_store_seals_and_a_wrong_key_is_refused_at_open(
    tmp_path: Path, postgres_url: str
) -> None:
    key, wrong = tmp_path / "master.key", tmp_path / "wrong.key"
    key_id = create_master_key(key)
    create_master_key(wrong)
    settings = Settings(
        data_dir=tmp_path / "data", store_url=postgres_url, master_key=MasterKeySource(path=key)
    )
    with open_log(settings) as log:
        assert log.store.cipher.master.key_id == key_id  # type: ignore[attr-defined]
        log.writer.open_track("t")
        log.writer.append("t", [Draft("statement.made", ALICE.name, {"text": "hello"}, ALICE.signing)])
        assert [e.decode().signed.event.body for e in log.store.read("t")] == [{"text": "hello"}]
    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute("SELECT DISTINCT key_version FROM entries").fetchall()
    assert versions == [(1,)]
    refused = Settings(
        data_dir=tmp_path / "data", store_url=postgres_url, master_key=MasterKeySource(path=wrong)
    )
    with pytest.raises(ConfigurationError, match=rf"wrong master key: .* the key from file {wrong}"):
        open_log(refused)
    with pytest.raises(ConfigurationError, match="is encrypted at rest: give its master key"):
        open_log(Settings(data_dir=tmp_path / "data", store_url=postgres_url))


def test_without_a_url_the_store_is_the_data_directory_s_sqlite_file(tmp_path: Path) -> None:
    with open_log(Settings(data_dir=tmp_path / "data")) as log:
        assert Path(log.store.path) == tmp_path / "data" / "backchannel.sqlite3"  # type: ignore[attr-defined]
