"""Encryption at rest on PostgreSQL through a real ``backchannel serve --store URL`` on 127.0.0.1 (ADR-0057).

A mediated exchange on a server given a PostgreSQL store and a master key;
then no bytea or text column of any table in the schema holds the message
body, the annex or an event type, ``log verify --commands`` passes from
PostgreSQL, and a restart with a wrong key or none fails at start-up naming
the key's source. A fresh schema per test; under ``CI=true`` an unreachable
server fails it.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.protocol.wire import agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient
from backchannel.store.encryption import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, write_master_key_file
from backchannel.testing.server import free_port, serve_process
from backchannel.testing.world import SMALL_AGENDA, seeded_keys

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "doha-talks"
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
SECRET = "Essaouira-red-line-6203-percent"  # appears nowhere but in the message body
ANNEX = b"annex bytes: Agadir-escrow-schedule-7719"
COMMAND = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BACKCHANNEL_MASTER_KEY") and k != "BACKCHANNEL_STORE"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env["COLUMNS"] = "400"  # the diagnostic on one line, paths unbroken
    return env


def serve_argv(data_dir: Path, port: int, store: str, *extra: str) -> list[str]:
    return [
        *COMMAND, "serve", "--data-dir", str(data_dir), "--port", str(port), "--store", store,
        "--admit-key", QATAR.signing.key_id, *extra,
    ]  # fmt: skip


def client(url: str, keys: Any) -> BackchannelClient:
    return BackchannelClient(url, keys.name, keys, sleep=lambda _: None)


def mediated_exchange(url: str) -> int:
    """Open a track, ratify its agenda; usa proposes, qatar relays to iran, iran settles. The log's size."""
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
        return usa.log.checkpoint(TRACK).size


def every_stored_byte(url: str) -> bytes:
    """Every bytea and text value of every table in the store's schema, concatenated."""
    with psycopg.connect(url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type IN ('bytea', 'text')"
        ).fetchall()
        chunks: list[bytes] = []
        for table, column in columns:
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(str(column)), sql.Identifier(str(table))
            )
            chunks.extend(v if isinstance(v, bytes) else str(v).encode() for (v,) in conn.execute(query))
    return b"\x00".join(chunks)


def start_fails(data_dir: Path, store: str, *extra: str) -> str:
    """Run serve expecting it to refuse to start; its stderr."""
    done = subprocess.run(
        serve_argv(data_dir, free_port(), store, *extra),
        capture_output=True, text=True, env=environment(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr


def test_serve_over_postgresql_with_a_master_key_keeps_no_plaintext_and_verifies(
    tmp_path: Path, postgres_url: str
) -> None:
    data_dir, key_file = tmp_path / "data", tmp_path / "master.key"
    master = write_master_key_file(key_file)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    output = tmp_path / "serve.out"
    argv = serve_argv(data_dir, port, postgres_url, "--master-key-file", str(key_file))
    logged = ["bash", "-c", f'exec "$@" > {output}', "bash", *argv]  # exec: the PID stopped is serve's
    with serve_process(logged, url, env=environment()):
        assert httpx.get(url + "/v1/service", timeout=5).status_code == 200
        size = mediated_exchange(url)
    assert size > 8
    assert f"encryption at rest: on (master key {master.key_id} from file {key_file})" in output.read_text()
    assert sorted(p.name for p in data_dir.iterdir()) == ["log.key", "node.key"]  # no SQLite file

    stored = every_stored_byte(postgres_url)
    assert len(stored) > 5_000
    assert SECRET.encode() not in stored
    assert ANNEX not in stored
    assert b"message.submitted" not in stored  # event types are inside the sealed bytes too
    assert hashlib.sha256(ANNEX).digest() in stored  # digests stay visible: they are in the log anyway

    verified = CliRunner().invoke(
        app,
        ["log", "verify", "--track", TRACK, "--data-dir", str(data_dir), "-j", "1", "--commands"],
        env={"BACKCHANNEL_STORE": postgres_url, MASTER_KEY_FILE_ENV: str(key_file), MASTER_KEY_ENV: ""},
    )
    assert verified.exit_code == 0, verified.output
    assert "OK: every signature, leaf, root and checkpoint verifies" in verified.output
    assert "OK: every embedded command's signature verifies" in verified.output

    wrong = tmp_path / "wrong.key"
    write_master_key_file(wrong)
    stderr = start_fails(data_dir, postgres_url, "--master-key-file", str(wrong))
    assert f"wrong master key: the store was encrypted with master key {master.key_id}" in stderr
    assert f"the key from file {wrong}" in stderr
    assert "is encrypted at rest: give its master key" in start_fails(data_dir, postgres_url)
