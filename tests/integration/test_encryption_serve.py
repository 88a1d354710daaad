"""Encryption at rest through a real ``backchannel serve`` on 127.0.0.1 (issue #14, ADR-0057).

A mediated exchange on a server given a master key; then the raw files hold no
message body, ``log verify`` (in place and offline, on an export) passes
unchanged, and a restart with a wrong key or none fails at start-up naming
the key's source.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.protocol.wire import agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient
from backchannel.store.encryption import MASTER_KEY_FILE_ENV, write_master_key_file
from backchannel.testing.server import free_port, serve_process
from backchannel.testing.world import SMALL_AGENDA, seeded_keys

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "doha-talks"
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
SECRET = "Marrakesh-red-line-2719-percent"  # appears nowhere but in the message body
ANNEX = b"annex bytes: Tangier-escrow-schedule-5531"
COMMAND = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_MASTER_KEY")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env["COLUMNS"] = "400"  # the diagnostic on one line, paths unbroken
    return env


def serve_argv(data_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        *COMMAND, "serve", "--data-dir", str(data_dir), "--port", str(port),
        "--admit-key", QATAR.signing.key_id, *extra,
    ]  # fmt: skip


def client(url: str, keys: Any) -> BackchannelClient:
    return BackchannelClient(url, keys.name, keys, sleep=lambda _: None)


def mediated_exchange(url: str) -> None:
    """Open a track, ratify its agenda; usa proposes, qatar relays to iran, iran settles."""
    with client(url, QATAR) as qatar, client(url, USA) as usa, client(url, IRAN) as iran:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": enrolment_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for principal in (USA, IRAN):
            qatar.execute("admit_party", {
                "party": principal.name.split("/")[0], "kind": "delegation", "principal": principal.name,
                "principal_key": enrolment_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": SMALL_AGENDA.to_dict()}, track=TRACK)
        ratify = {"version": 1, "agenda_digest": agenda_digest(SMALL_AGENDA).hex()}
        for principal in (usa, iran):
            principal.execute("ratify_agenda", ratify, track=TRACK)
        assert usa.annexes.upload(TRACK, ANNEX)
        submitted = usa.execute("submit_message", {
            "kind": "statement", "body": {"text": SECRET}, "priority": "routine", "in_reply_to": None,
            "annexes": [], "agenda_version": None,
        }, track=TRACK)  # fmt: skip
        message_id = str(submitted["events"][0]["command_digest"])
        forwarded = qatar.execute(
            "forward_message", {"message_id": message_id, "to_parties": ["iran"]}, track=TRACK
        )
        (delivery,) = iran.inbox.lease(TRACK)
        assert delivery["message_id"] == message_id
        assert SECRET in str(delivery["original"])  # the recipient reads it in the clear
        iran.inbox.settle(TRACK, [(message_id, int(forwarded["first_index"]))])
        assert usa.log.checkpoint(TRACK).size > 8


def start_fails(data_dir: Path, *extra: str) -> str:
    """Run serve expecting it to refuse to start; its stderr."""
    done = subprocess.run(
        serve_argv(data_dir, free_port(), *extra),
        capture_output=True, text=True, env=environment(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr


def test_an_encrypted_server_keeps_no_plaintext_verifies_unchanged_and_refuses_a_wrong_key(
    tmp_path: Path,
) -> None:
    data_dir, key_file = tmp_path / "data", tmp_path / "master.key"
    master = write_master_key_file(key_file)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    output = tmp_path / "serve.out"
    argv = serve_argv(data_dir, port, "--master-key-file", str(key_file))
    logged = ["bash", "-c", f'exec "$@" > {output}', "bash", *argv]  # exec: the PID stopped is serve's
    with serve_process(logged, url, env=environment()):
        assert httpx.get(url + "/v1/service", timeout=5).status_code == 200
        mediated_exchange(url)
    assert f"encryption at rest: on (master key {master.key_id} from file {key_file})" in output.read_text()

    database = data_dir / "backchannel.sqlite3"
    raw = b"".join(p.read_bytes() for p in data_dir.glob("backchannel.sqlite3*"))
    assert SECRET.encode() not in raw
    assert ANNEX not in raw
    assert b"message.submitted" not in raw  # event types are inside the sealed bytes too
    assert hashlib.sha256(ANNEX).digest() in raw  # digests stay visible: they are in the log anyway

    runner = CliRunner()
    keyed = {MASTER_KEY_FILE_ENV: str(key_file)}
    verified = runner.invoke(
        app,
        ["log", "verify", "--track", TRACK, "--data-dir", str(data_dir), "-j", "1", "--commands"],
        env=keyed,
    )
    assert verified.exit_code == 0, verified.output
    assert "OK: every embedded command's signature verifies" in verified.output
    export = tmp_path / "doha.jsonl"
    exported = runner.invoke(
        app, ["log", "export", TRACK, str(export), "--data-dir", str(data_dir)], env=keyed
    )
    assert exported.exit_code == 0, exported.output
    assert SECRET in export.read_text()  # an export is the plaintext log, for offline verification
    offline = runner.invoke(
        app, ["log", "verify", str(export), "-j", "1", "--commands"], env={MASTER_KEY_FILE_ENV: ""}
    )
    assert offline.exit_code == 0, offline.output

    wrong = tmp_path / "wrong.key"
    write_master_key_file(wrong)
    stderr = start_fails(data_dir, "--master-key-file", str(wrong))
    assert f"wrong master key: the store was encrypted with master key {master.key_id}" in stderr
    assert f"the key from file {wrong}" in stderr
    assert "encrypted at rest: give its master key" in start_fails(data_dir)
    assert database.exists()
