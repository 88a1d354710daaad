"""Verification through the service layer: parallel signature checks and checks on open."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backchannel.errors import ConfigurationError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.config import Settings, open_log
from backchannel.service.export import export_track, verify_export, verify_store
from backchannel.service.log import Draft, LogWriter
from backchannel.store.memory import MemoryEventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.salts import UnsafeDeterministicSalts

TRACK = "t"
ALICE = SigningKey.from_seed(b"\x02" * 32)


def build(store: MemoryEventStore | SQLiteEventStore, size: int, batch: int = 500) -> LogWriter:
    writer = LogWriter(
        store,
        NoteSigner("log.test", SigningKey.from_seed(b"\x01" * 32)),
        clock=FakeClock(),
        salts=UnsafeDeterministicSalts(),
    )
    writer.open_track(TRACK)
    body = {"member": "usa/alice", "ed25519": ALICE.verifying_key.to_text()}
    writer.append(TRACK, [Draft(KEY_REGISTERED, "usa/alice", body, ALICE)])
    done = 1
    while done < size:
        n = min(batch, size - done)
        writer.append(TRACK, [Draft("statement.made", "usa/alice", {"n": done + i}, ALICE) for i in range(n)])
        done += n
    return writer


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = MemoryEventStore()
    writer = build(store, 6000)
    path = tmp_path_factory.mktemp("exp") / "log.jsonl"
    export_track(store, TRACK, path)
    return path, writer.log_key


def edit_export(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy an export, letting ``edit`` change each parsed entry line in place."""
    out = []
    for line in src.read_text().splitlines():
        obj = json.loads(line)
        if "seq" in obj:
            edit(obj)
        out.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
    dst.write_text("\n".join(out) + "\n")
    return dst


def test_parallel_and_serial_verification_agree(big_export: tuple[Path, str]) -> None:
    path, key = big_export
    serial = verify_export(path, key, jobs=1)
    parallel = verify_export(path, key, jobs=2)
    assert serial.report == parallel.report
    assert parallel.report.size == 6000


def test_parallel_verification_reports_the_lowest_bad_index(
    big_export: tuple[Path, str], tmp_path: Path
) -> None:
    path, key = big_export
    # a forged body at 100 (caught by a worker) and a broken leaf at 4500 (caught in order by the main process)

    def forge(obj: dict[str, Any]) -> None:
        if obj["seq"] == 100:
            obj["signed"]["event"]["body"]["n"] = 101
        if obj["seq"] == 4500:
            obj["leaf"] = "00" * 32

    forged = edit_export(path, tmp_path / "forged.jsonl", forge)
    for jobs in (1, 2):
        with pytest.raises(VerificationError) as info:
            verify_export(forged, key, jobs=jobs)
        assert info.value.index == 100, (jobs, str(info.value))
        assert "author signature does not verify" in str(info.value)


def test_parallel_verification_of_a_store(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "db.sqlite3") as store:
        build(store, 5000, batch=1000)
        assert verify_store(store, TRACK, jobs=2).report.size == 5000
        with pytest.raises(ConfigurationError, match="jobs"):
            verify_store(store, TRACK, jobs=0)


def test_a_worker_pool_is_only_started_for_large_logs(tmp_path: Path) -> None:
    store = MemoryEventStore()
    writer = build(store, 50)
    path = tmp_path / "small.jsonl"
    export_track(store, TRACK, path)
    assert verify_export(path, writer.log_key, jobs=4).report.size == 50


def test_open_with_check_names_the_bad_index_before_appending(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path / "data")
    with open_log(settings) as node:
        node.writer.open_track(TRACK)
        body = {"member": "usa/alice", "ed25519": ALICE.verifying_key.to_text()}
        node.writer.append(TRACK, [Draft(KEY_REGISTERED, "usa/alice", body, ALICE)])
        for i in range(4):
            node.writer.append(TRACK, [Draft("statement.made", "usa/alice", {"text": f"tail-{i}"}, ALICE)])
    with open_log(settings, create=False, check=True) as node:
        assert node.store.size(TRACK) == 5
    data = bytearray(settings.database.read_bytes())
    at = data.find(b"tail-3")
    data[at + 5] ^= 1
    settings.database.write_bytes(bytes(data))
    with pytest.raises(VerificationError) as info:
        open_log(settings, create=False, check=True)
    assert info.value.index == 4
    assert "author signature does not verify" in str(info.value)


def test_open_without_create_refuses_a_directory_that_is_not_a_data_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no log key"):
        open_log(Settings.embedded(tmp_path / "empty"), create=False)
    with open_log(Settings.embedded(tmp_path / "d")):
        pass
    settings = Settings.embedded(tmp_path / "d")
    settings.database.unlink()
    with pytest.raises(ConfigurationError, match="no database"):
        open_log(settings, create=False)
