"""Nodes starting together on a new data directory end up with one node key and one log key (issue #14).

Key creation is exclusive (``read_or_create_key_file``: a complete file is
linked into place only where none is), so of several threads or processes
creating a key at once one writes and the others read its key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import backchannel
from backchannel.errors import ConfigurationError
from backchannel.node import _node_keys
from backchannel.protocol.keyfile import KeyPair, read_key_file, read_or_create_key_file, write_key_file
from backchannel.service.config import Settings, _log_keys

RACERS = 8


def race(create: Callable[[], KeyPair]) -> list[str]:
    """Run ``create`` in :data:`RACERS` threads released together; the key ids they got."""
    barrier = threading.Barrier(RACERS)
    got: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait(timeout=10)
        try:
            keys = create()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            with lock:
                errors.append(e)
            return
        with lock:
            got.append(keys.signing.key_id)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return got


def test_threads_creating_the_node_key_at_once_all_get_the_one_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    got = race(lambda: _node_keys(path))
    assert len(got) == RACERS
    assert set(got) == {read_key_file(path).signing.key_id}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]  # no temporary file left


def test_threads_creating_the_log_key_at_once_all_get_the_one_on_disk(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    got = race(lambda: _log_keys(settings, create=True))
    assert set(got) == {read_key_file(settings.log_key_file).signing.key_id}


def test_an_existing_key_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = read_or_create_key_file(path, lambda: KeyPair.generate("a"))
    again = read_or_create_key_file(path, lambda: KeyPair.generate("b"))
    assert again.signing.key_id == first.signing.key_id
    assert again.name == "a"


def test_a_log_key_of_another_log_is_still_refused(tmp_path: Path) -> None:
    write_key_file(tmp_path / "log.key", KeyPair.generate("other.log"))
    with pytest.raises(ConfigurationError, match="is the key of log 'other.log'"):
        _log_keys(Settings(data_dir=tmp_path), create=True)


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot write key file"):
        read_or_create_key_file(tmp_path / "missing" / "node.key", lambda: KeyPair.generate("a"))


_CHILD = """
import sys, time
from pathlib import Path
from backchannel.protocol.keyfile import KeyPair, read_or_create_key_file
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
print(read_or_create_key_file(Path(sys.argv[1]), lambda: KeyPair.generate("backchannel/service")).signing.key_id)
"""


def test_processes_creating_one_key_at_once_all_get_the_one_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    env = {**os.environ, "PYTHONPATH": str(Path(backchannel.__file__).parents[1])}
    start = time.time() + 1.5  # every child has imported by then (a late one still reads the winner)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(start)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    got = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    assert got == {read_key_file(path).signing.key_id}
