"""``backchannel forecast declare|request|show|share`` and the language check in ``relay``/``reframe`` (ADR-0045).

Each command runs in-process (Typer's runner) against a real server on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_live_analysis_server import IRAN, QATAR, TRACK, USA, Server, server
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.testing.world import message_body

__all__ = ["server"]  # the fixture, imported

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "forecast-positions.json"


class Cli:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.runner = CliRunner()

    def key(self, keys: KeyPair) -> Path:
        path = self.tmp / f"{keys.name.replace('/', '_')}.key"
        if not path.exists():
            write_key_file(path, keys)
        return path

    def __call__(self, keys: KeyPair, *args: str, code: int = 0) -> str:
        common = ["--key", str(self.key(keys)), "--track", TRACK, "--server", self.url]
        result = self.runner.invoke(app, [*args, *common], env={"COLUMNS": "200"})
        assert result.exit_code == code, result.output
        return result.output


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server.url, tmp_path)


def test_the_forecast_commands_declare_request_show_and_share(cli: Cli) -> None:
    declared = json.loads(cli(QATAR, "forecast", "declare", str(EXAMPLE), "--json"))
    assert [e["type"] for e in declared["events"]] == ["forecast.positions_declared"]
    assert "declared (private to the mediator): enrichment_cap_pct, sanctions_relief" in cli(
        QATAR, "forecast", "declare", str(EXAMPLE)
    )

    requested = json.loads(cli(QATAR, "forecast", "request", "--json"))
    forecast_id = requested["forecast_id"]
    summary = cli(QATAR, "forecast", "request")
    assert "recorded 0 s ago (current)" in summary
    assert "compromise" in summary
    assert "models disagree" in summary  # sanctions relief: the bargaining models are far apart

    assert "no forecast you may see on this track" in cli(USA, "forecast", "show")
    refused = cli(USA, "forecast", "show", "--declarations", code=1)
    assert "may not read the declared actor positions" in refused
    assert "russia" in cli(QATAR, "forecast", "show", "--declarations")

    assert f"forecast {forecast_id} shared with usa" in cli(
        QATAR, "forecast", "share", forecast_id, "--with", "usa"
    )
    shown = json.loads(cli(USA, "forecast", "show", "--json"))["forecasts"]
    assert [f["forecast_id"] for f in shown] == [forecast_id]
    assert shown[0]["age_seconds"] >= 0
    assert shown[0]["stale"] is False
    assert json.loads(cli(IRAN, "forecast", "show", "--json"))["forecasts"] == []

    cli(QATAR, "forecast", "declare", str(EXAMPLE))
    assert "STALE since" in cli(USA, "forecast", "show")


def test_a_bad_declarations_file_is_named(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"issues": {}}')
    assert "issues: expected a list of issues" in cli(QATAR, "forecast", "declare", str(bad), code=1)
    bad.write_text(
        '{"issues": [{"issue": "snapback", "actors": [{"actor": "iran", "position": 120, "salience": 1, "capability": 1}]}]}'
    )
    output = cli(QATAR, "forecast", "declare", str(bad), code=1)
    assert "issues.0.actors.0.position" in output


def _submit(server: Server, text: str) -> str:
    with server.client(USA) as usa:
        sent = usa.execute("submit_message", message_body("statement", {"text": text}), track=TRACK)
    return str(sent["events"][0]["command_digest"])


def test_reframe_shows_the_check_and_refuses_changed_numbers_without_force(server: Server, cli: Cli) -> None:
    message_id = _submit(server, "You must accept a cap of 3.67% by Friday or face the consequences.")
    changed = json.dumps({"text": "We propose a cap of 5% by Friday."})
    output = cli(QATAR, "reframe", message_id, "--to", "iran", "--body", changed, code=1)
    assert "ESCALATORY" in output
    assert "suggested reframings (never sent automatically)" in output
    assert "drift: BLOCKED" in output
    assert "the reframing changes numbers" in output
    with server.client(IRAN) as iran:
        assert "message.reframed" not in [e["signed"]["event"]["type"] for e in iran.log.events(TRACK)]

    kept = json.dumps({"text": "We propose that you accept a cap of 3.67% by Friday."})
    output = cli(QATAR, "reframe", message_id, "--to", "iran", "--body", kept)
    assert "drift: " in output
    assert "reframe_message: message.reframed" in output

    again = _submit(server, "You must accept a cap of 3.67% by Friday or face the consequences.")
    forced = cli(QATAR, "reframe", again, "--to", "iran", "--body", changed, "--force")
    assert "drift: BLOCKED" in forced
    assert "reframe_message: message.reframed" in forced

    third = _submit(server, "You must accept a cap of 3.67% by Friday or face the consequences.")
    unchecked = cli(QATAR, "reframe", third, "--to", "iran", "--body", changed, "--no-check")
    assert "ESCALATORY" not in unchecked
    assert "reframe_message: message.reframed" in unchecked


def test_relay_shows_the_flags_before_forwarding(server: Server, cli: Cli) -> None:
    message_id = _submit(server, "This is an ultimatum: accept by Friday or face the consequences.")
    output = cli(QATAR, "relay", message_id, "--to", "iran")
    assert output.index("ESCALATORY") < output.index("forward_message: message.forwarded")
    calm = _submit(server, "We welcome the proposal and will study it carefully.")
    assert "not escalatory" in cli(QATAR, "relay", calm, "--to", "iran")
    other = _submit(server, "We welcome the proposal.")
    assert "language check" not in cli(QATAR, "relay", other, "--to", "iran", "--no-check")
