"""Which store open_log opens: SQLite in the data directory, or PostgreSQL at a URL (issue #14)."""

from pathlib import Path

import pytest

from backchannel.errors import ConfigurationError
from backchannel.service.config import Settings, open_log
from backchannel.service.encryption import create_master_key
from backchannel.store.encryption import MasterKeySource


def test_a_master_key_with_the_postgresql_store_is_refused_before_connecting(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    create_master_key(key)
    settings = Settings(
        data_dir=tmp_path / "data",
        store_url="postgresql://postgres@127.0.0.1:1/none",  # nothing listens: it must not be reached
        master_key=MasterKeySource(path=key),
    )
    with pytest.raises(ConfigurationError, match="master_key: encryption at rest is not yet available"):
        open_log(settings)


def test_without_a_url_the_store_is_the_data_directory_s_sqlite_file(tmp_path: Path) -> None:
    with open_log(Settings(data_dir=tmp_path / "data")) as log:
        assert Path(log.store.path) == tmp_path / "data" / "backchannel.sqlite3"  # type: ignore[attr-defined]
