"""``backchannel serve --store postgresql://...`` as a real subprocess on 127.0.0.1: a mediated exchange.

The tracks live in a fresh PostgreSQL schema; the keys stay in the data directory
(which gets no SQLite file). After the server stops, ``backchannel log verify``
re-verifies the track from PostgreSQL.
"""

import os
import re
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.errors import ConfigurationError
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient
from backchannel.service.config import Settings
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing.server import free_port, serve_process
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "doha-talks"
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


def exchange(url: str, service_key: dict[str, object]) -> tuple[str, int]:
    """Open a track, admit two delegations, agree the agenda, submit, forward, receive, settle."""
    clients = [BackchannelClient(url, k.name, k, sleep=lambda _: None) for k in (QATAR, USA, IRAN)]
    qatar, usa, iran = clients
    try:
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name, "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
        for client in (usa, iran):
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )
        submitted = usa.execute("submit_message", {
            "kind": "proposal", "body": {"values": {"enrichment_cap_pct": 3.67}}, "priority": "routine",
            "in_reply_to": None, "annexes": [], "agenda_version": 1,
        }, track=TRACK)  # fmt: skip
        message_id = str(submitted["events"][0]["command_digest"])
        forwarded = qatar.execute(
            "forward_message", {"message_id": message_id, "to_parties": ["iran"]}, track=TRACK
        )
        at = int(forwarded["first_index"])
        (delivery,) = iran.inbox.lease(TRACK)
        assert (delivery["message_id"], delivery["log_index"]) == (message_id, at)
        receipt_at = int(iran.inbox.settle(TRACK, [(message_id, at)])["first_index"])
        (proof,) = usa.log.receipt_proofs(TRACK, message_id)
        assert (proof.status, proof.log_index, proof.settled) == ("settled", receipt_at, True)
        return message_id, receipt_at
    finally:
        for client in clients:
            client.close()


def test_serve_over_postgresql_runs_an_exchange_that_log_verify_accepts(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    env.pop("BACKCHANNEL_STORE", None)
    command = [sys.executable, "-c", "from backchannel.cli.main import main; main()", "serve"]
    options = ["--data-dir", str(data_dir), "--port", str(port), "--admit-key", QATAR.signing.key_id]
    with serve_process([*command, *options, "--store", postgres_url], url, env=env):
        info = httpx.get(url + "/v1/service", timeout=5).json()
        _, receipt_at = exchange(url, info["service_key"])
    assert sorted(p.name for p in data_dir.iterdir()) == ["log.key", "node.key"]  # no SQLite file

    with PostgresEventStore(postgres_url) as store:
        assert store.size(TRACK) == receipt_at + 1
        assert store.quick_check() == []
    monkeypatch.setenv("BACKCHANNEL_STORE", postgres_url)
    result = CliRunner().invoke(
        app, ["log", "verify", "--track", TRACK, "--data-dir", str(data_dir), "--jobs", "1", "--commands"]
    )
    assert result.exit_code == 0, result.output
    assert "OK: every signature, leaf, root and checkpoint verifies" in result.output
    assert re.search(rf"entries verified\s+{receipt_at + 1}\b", result.output), result.output
    assert "OK: every embedded command's signature verifies" in result.output


@pytest.mark.parametrize(
    ("store", "says"),
    [
        ("mysql://u@h/db", "the store must be a postgresql://"),
        ("/var/lib/backchannel.sqlite3", "the store must be a postgresql://"),
        ("postgresql://u:hunter2@h/db?no_such_option=1", "is not a valid PostgreSQL URL"),
    ],
)
def test_a_bad_store_url_is_a_configuration_error_naming_store(store: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"--store .*{says}") as caught:
        Settings(data_dir=tmp_path, store_url=store)
    assert "hunter2" not in str(caught.value)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--store", store])
    assert result.exit_code == 1
    assert "--store" in result.output
    assert "hunter2" not in result.output
    assert not (tmp_path / "d").exists()


def test_the_store_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKCHANNEL_STORE", "postgresql://postgres@127.0.0.1/test")
    assert Settings.embedded(tmp_path).store_url == "postgresql://postgres@127.0.0.1/test"
    assert Settings.embedded(tmp_path, store_url="postgresql://h/other").store_url == "postgresql://h/other"
    monkeypatch.delenv("BACKCHANNEL_STORE")
    assert Settings.embedded(tmp_path).store_url is None
