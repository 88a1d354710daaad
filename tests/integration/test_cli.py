"""The ``backchannel`` command end to end on a real SQLite data directory.

Includes the tamper tests: one byte changed inside the SQLite file itself (an
event, a salt, a leaf hash, a checkpoint) makes ``log verify`` fail and name
the first bad index.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.protocol.keyfile import read_key_file
from backchannel.service.config import Settings, open_log

TRACK = "us-iran-nuclear"


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module: ``data`` holding TRACK (3 registrations + 20 statements) and ``keys``."""
    root = tmp_path_factory.mktemp("cli")
    build(root)
    return root


@pytest.fixture
def data_dir(built: Path, tmp_path: Path) -> Path:
    """A copy of the built data directory (and its ``keys``) for this test alone."""
    for name in ("data", "keys"):
        shutil.copytree(built / name, tmp_path / name)
    return tmp_path / "data"


def build(root: Path) -> Path:
    """A data directory holding TRACK: 3 registrations + 20 statements in several batches."""
    d = root / "data"
    keys = root / "keys"
    keys.mkdir()
    assert cli("track", "new", TRACK, "-d", d)[0] == 0
    for member in ("usa/alice", "iran/bob", "qatar/med"):
        key_file = keys / (member.replace("/", "-") + ".key")
        assert cli("keys", "new", member, "--out", key_file)[0] == 0
        assert cli("log", "register", TRACK, "--key", key_file, "-d", d)[0] == 0
    for i in range(20):
        author = ("usa-alice", "iran-bob", "qatar-med")[i % 3]
        body = json.dumps({"text": f"marker-{i:04d}-statement"})
        code, output = cli(
            "log", "append", TRACK, "-t", "statement.made", "-k", keys / f"{author}.key", "-b", body, "-d", d
        )
        assert code == 0, output
    return d


def log_key(data_dir: Path) -> str:
    return read_key_file(data_dir / "log.key").signing.verifying_key.to_text()


def test_keys_new_writes_0600_and_prints_no_private_key(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    code, output = cli("keys", "new", "usa/alice", "--out", key_file)
    assert code == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = read_key_file(key_file)
    assert keys.signing.key_id in output
    private = json.loads(key_file.read_text())["ed25519"]["private"]
    assert private not in output
    code, output = cli("keys", "new", "usa/alice", "--out", key_file)
    assert code == 1
    assert "exists" in output
    code, output = cli("keys", "show", key_file)
    assert code == 0
    assert private not in output
    assert keys.agreement.key_id in output


def test_export_and_verify_offline_with_pinned_key(data_dir: Path, tmp_path: Path) -> None:
    export = tmp_path / "log.jsonl"
    code, output = cli("log", "export", TRACK, export, "-d", data_dir)
    assert code == 0, output
    assert "exported 23 entries" in output
    with open_log(Settings.embedded(data_dir), create=False) as node:
        vkey = node.writer.log_key
    code, output = cli("log", "verify", export, "--log-key", vkey)
    assert code == 0, output
    assert "OK: every signature, leaf, root and checkpoint verifies" in output
    assert "entries verified      23" in output.replace("\u2502", " ") or "23" in output
    assert "not pinned" not in output
    code, output = cli("log", "verify", export)
    assert code == 0
    assert "not pinned" in output
    code, output = cli("log", "verify", "--track", TRACK, "-d", data_dir)
    assert code == 0, output
    wrong = vkey.replace("backchannel.local", "other.log")
    code, output = cli("log", "verify", export, "--log-key", wrong)
    assert code == 1


def test_proof_is_verified_and_machine_readable(data_dir: Path) -> None:
    code, output = cli("log", "proof", TRACK, "7", "--json", "-d", data_dir)
    assert code == 0, output
    doc = json.loads(output)
    assert doc["index"] == 7
    assert doc["tree_size"] == 23
    assert len(doc["proof"]) == 5
    from backchannel.log import merkle
    from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint

    checkpoint = NoteVerifier.from_vkey(doc["log_key"]).verify(SignedCheckpoint.from_text(doc["checkpoint"]))
    merkle.verify_inclusion(
        bytes.fromhex(doc["leaf_hash"]),
        7,
        checkpoint.size,
        [bytes.fromhex(p) for p in doc["proof"]],
        checkpoint.root,
    )
    code, output = cli("log", "proof", TRACK, "7", "-d", data_dir)
    assert code == 0
    assert "inclusion proof (verified)" in output
    code, output = cli("log", "proof", TRACK, "23", "-d", data_dir)
    assert code == 1
    assert "index 23 is not in the log (size 23)" in output


def flip_byte_in_file(path: Path, needle: bytes, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0, f"{needle!r} not found in {path}"
    assert data.find(needle, at + 1) < 0, f"{needle!r} is not unique in {path}"
    data[at + offset] ^= 0x01
    path.write_bytes(bytes(data))


def stored(data_dir: Path, index: int) -> tuple[bytes, bytes, bytes]:
    with open_log(Settings.embedded(data_dir), create=False) as node:
        entry = next(node.store.read(TRACK, index, index + 1))
    return entry.signed_bytes, entry.salt, entry.leaf_hash


def db(data_dir: Path) -> Path:
    path = data_dir / "backchannel.sqlite3"
    assert (
        not (data_dir / "backchannel.sqlite3-wal").exists()
        or (data_dir / "backchannel.sqlite3-wal").stat().st_size == 0
    ), "WAL not checkpointed on close"
    return path


def assert_verify_fails(data_dir: Path, tmp_path: Path, index: int, reason: str) -> None:
    code, output = cli("log", "verify", "--track", TRACK, "-d", data_dir)
    assert code == 1, output
    assert f"first bad index: {index}" in output, output
    assert reason in output, output
    # the same tampering is caught offline, through an export
    export = tmp_path / "tampered.jsonl"
    assert cli("log", "export", TRACK, export, "-d", data_dir)[0] == 0
    code, output = cli("log", "verify", export)
    assert code == 1, output
    assert f"first bad index: {index}" in output, output


def test_tampered_event_byte_in_sqlite_file(data_dir: Path, tmp_path: Path) -> None:
    flip_byte_in_file(db(data_dir), b"marker-0013-statement", offset=7)
    assert_verify_fails(data_dir, tmp_path, 16, "signature does not verify")


def test_tampered_salt_byte_in_sqlite_file(data_dir: Path, tmp_path: Path) -> None:
    _, salt, _ = stored(data_dir, 9)
    flip_byte_in_file(db(data_dir), salt, offset=31)
    assert_verify_fails(data_dir, tmp_path, 9, "stored leaf hash does not match")


def test_tampered_leaf_byte_in_sqlite_file(data_dir: Path, tmp_path: Path) -> None:
    _, _, leaf = stored(data_dir, 11)
    flip_byte_in_file(db(data_dir), leaf, offset=5)
    assert_verify_fails(data_dir, tmp_path, 11, "stored leaf hash does not match")


def test_tampered_checkpoint_byte_in_sqlite_file(data_dir: Path, tmp_path: Path) -> None:
    with open_log(Settings.embedded(data_dir), create=False) as node:
        note = next(node.store.checkpoints(TRACK, 10)).to_text()
    root_line = note.split("\n")[2].encode()
    flip_byte_in_file(db(data_dir), b"\n10\n" + root_line, offset=10)
    code, output = cli("log", "verify", "--track", TRACK, "-d", data_dir)
    assert code == 1, output
    assert "first bad index: 9" in output, output


def test_tampered_internal_node_in_sqlite_file(data_dir: Path) -> None:
    with open_log(Settings.embedded(data_dir), create=False) as node:
        internal = node.store.get_nodes(TRACK, [(2, 1)])[0]
    flip_byte_in_file(db(data_dir), internal)
    code, output = cli("log", "verify", "--track", TRACK, "-d", data_dir)
    assert code == 1, output
    assert "stored tree node (level 2, index 1)" in output
    assert "first bad index: 7" in output


def test_errors_are_diagnostics_not_tracebacks(tmp_path: Path) -> None:
    code, output = cli("log", "verify", tmp_path / "missing.jsonl")
    assert code == 1
    assert "NotFoundError: no such export file" in output
    assert "Traceback" not in output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "backchannel-log/1", oops\n')
    code, output = cli("log", "verify", bad)
    assert code == 1
    assert "line 1: malformed JSON" in output
    code, output = cli("log", "verify")
    assert code == 1
    assert "exactly one of FILE" in output
    code, output = cli("track", "list", "-d", tmp_path / "nowhere")
    assert code == 1
    assert "no data directory" in output
    with pytest.raises(Exception, match="no such export file"):
        CliRunner().invoke(app, ["--verbose", "log", "verify", str(tmp_path / "x")], catch_exceptions=False)


def test_append_refuses_bad_body_and_unknown_track(data_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "usa-alice.key"
    code, output = cli(
        "log", "append", TRACK, "-t", "statement.made", "-k", key_file, "-b", "[1]", "-d", data_dir
    )
    assert code == 1
    assert "--body: expected a JSON object" in output
    code, output = cli(
        "log", "append", TRACK, "-t", "statement.made", "-k", key_file, "-b", "{nope", "-d", data_dir
    )
    assert code == 1
    assert "--body: malformed JSON" in output
    code, output = cli("log", "append", "no-such-track", "-t", "x.y", "-k", key_file, "-d", data_dir)
    assert code == 1
    assert "no-such-track" in output
    code, output = cli("track", "list", "-d", data_dir)
    assert code == 0
    assert "23" in output


def test_console_script_runs_the_demo(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("backchannel")
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [str(exe), "demo", "log", "--data-dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK: every signature, leaf, root and checkpoint verifies" in proc.stdout
    assert "is refused" in proc.stdout
    assert "backchannel.local/us-iran-nuclear\n10\n" in proc.stdout


def test_demo_in_process(tmp_path: Path) -> None:
    code, output = cli("demo", "log", "--data-dir", tmp_path / "demo")
    assert code == 0, output
    assert "OK: every signature, leaf, root and checkpoint verifies" in output
    assert "(first bad index 7)" in output or "first bad index" in output
    key_line = next(line for line in output.splitlines() if line.startswith("log key: backchannel.local+"))
    from backchannel.log.checkpoint import NoteVerifier

    assert NoteVerifier.from_vkey(key_line.removeprefix("log key: ")).name == "backchannel.local"
    code, output = cli("demo", "log", "--data-dir", tmp_path / "demo", "--keep")
    assert code == 1
    assert "exists" in output
