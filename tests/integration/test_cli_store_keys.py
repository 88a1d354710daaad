"""``backchannel store keygen | rotate-key`` and the master key settings (ADR-0057), in process."""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.errors import ConfigurationError
from backchannel.service.config import Settings, open_log
from backchannel.store.encryption import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    MasterKeySource,
    generate_master_key,
)

NO_KEY = {MASTER_KEY_ENV: "", MASTER_KEY_FILE_ENV: ""}


@pytest.fixture(autouse=True)
def no_master_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)


def invoke(*args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env={**NO_KEY, **(env or {})})
    assert result.exit_code == code, result.output
    return result.output


def key_versions(data_dir: Path) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(data_dir / "backchannel.sqlite3")) as conn:
        return conn.execute("SELECT track, version FROM data_keys ORDER BY track, version").fetchall()


def test_keygen_then_rotate_every_track_or_one(tmp_path: Path) -> None:
    key, data = tmp_path / "master.key", tmp_path / "data"
    made = invoke("store", "keygen", "--out", str(key))
    assert f"written to {key}" in made
    assert "mk:" in made
    assert key.read_text().strip() not in made  # only the id is shown
    assert "refusing to overwrite" in invoke("store", "keygen", "--out", str(key), code=1)
    keyed = {MASTER_KEY_FILE_ENV: str(key)}
    assert "no database at" in invoke("store", "rotate-key", "--data-dir", str(data), env=keyed, code=1)
    open_log(Settings.embedded(data, master_key_file=key)).close()  # an empty data directory
    assert "no tracks: nothing to rotate" in invoke("store", "rotate-key", "--data-dir", str(data), env=keyed)
    invoke("track", "new", "a", "--data-dir", str(data), env=keyed)
    invoke("track", "new", "b", "--data-dir", str(data), env=keyed)
    rotated = invoke("store", "rotate-key", "--data-dir", str(data), env=keyed)
    assert "track a: new data key v1" in rotated
    assert "track b: new data key v1" in rotated
    one = invoke("store", "rotate-key", "-d", str(data), "--track", "b", "--master-key-file", str(key))
    assert one.strip() == "track b: new data key v2"
    assert key_versions(data) == [("a", 1), ("b", 1), ("b", 2)]


def test_rotate_key_needs_a_master_key_and_a_data_directory(tmp_path: Path) -> None:
    out = invoke("store", "rotate-key", "--data-dir", str(tmp_path), code=1)
    assert "rotate-key needs the master key" in out
    env = {MASTER_KEY_ENV: generate_master_key()}
    assert "no database at" in invoke("store", "rotate-key", "--data-dir", str(tmp_path), env=env, code=1)


def test_settings_take_the_master_key_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings.embedded(tmp_path).master_key is None
    key = tmp_path / "k"
    assert Settings.embedded(tmp_path, master_key_file=key).master_key == MasterKeySource(path=key)
    monkeypatch.setenv(MASTER_KEY_ENV, generate_master_key())
    settings = Settings.embedded(tmp_path / "data")
    assert settings.master_key == MasterKeySource(env=MASTER_KEY_ENV)
    with open_log(settings) as node:
        cipher = getattr(node.store, "cipher", None)
        assert cipher is not None
        assert cipher.master.source == "environment variable BACKCHANNEL_MASTER_KEY"
    monkeypatch.setenv(MASTER_KEY_ENV, generate_master_key())  # another key
    with pytest.raises(ConfigurationError, match="wrong master key"):
        open_log(Settings.embedded(tmp_path / "data"))
    monkeypatch.delenv(MASTER_KEY_ENV)
    with pytest.raises(ConfigurationError, match="encrypted at rest"):
        open_log(Settings.embedded(tmp_path / "data"))
