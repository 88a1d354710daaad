"""The live Doha demo and the commands that drive a running server, against a real ``backchannel serve``."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.testing.server import free_port, serve_process

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "doha-cli"
ENV = {
    **os.environ,
    "COLUMNS": "200",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
}
BACKCHANNEL = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_live_demo_plays_verifies_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    proc = subprocess.run(
        [*BACKCHANNEL, "demo", "--data-dir", str(data_dir), "--flash-deadline", "1"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
        timeout=180,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "ok usa: malformed proposal refused with its field-level reason" in out
    assert "ok qatar: relayed the sealed annex but cannot open it" in out
    assert "ok iran: opened the annex sealed to it" in out
    assert "iran/delegate reads: Annex A (for Iran only)" in out
    assert "120 % is above the maximum 90" in out
    assert re.search(
        r"ok qatar: flash [0-9a-f]{12} escalated when its deadline lapsed "
        r"\(level 1 → iran/delegate, qatar/principal\)",
        out,
    )
    assert "ok iran: iran/delegate, an alerted alternate, reads the escalation that names it" in out
    assert re.search(r"ok iran: caught up after reconnecting: 2 message\(s\) streamed after index \d+", out)
    assert re.search(r"ok qatar: all \d+ deliveries receipted by their recipients", out)
    for party, count in (("qatar", 1), ("usa", 3), ("iran", 1)):  # reframings are the mediator's messages
        assert f"ok {party}: {count} of {count} proof(s) of receipt of its messages verified" in out
    for party in ("qatar", "usa", "iran"):
        assert f"transcript visible to {party}" in out
        assert re.search(rf"ok {party}: its \d+ own entries are in the log at their indexes", out)
        assert re.search(rf"ok {party}: checkpoints consistent from size \d+ to size \d+", out)
    assert "FAILED" not in out

    # 6. the negotiating text: a private comment, a revision, a stale edit refused, the diff
    assert "ok qatar: reads usa's private comment on v1; iran cannot" in out
    assert "ok iran: edited v2 into v3 under the shared policy" in out
    assert "refused: 409 Stale text version" in out
    assert "ok usa: a stale edit (based on v2) is refused with the current version (3)" in out
    assert "ok usa: reads v3, its digest checked: the refused edit was never merged" in out
    assert "+Article 1. Iran caps uranium enrichment at 3.67% for 15 years." in out
    assert "-Article 1. Iran caps uranium enrichment at 3.67%." in out
    assert "ok usa: diff v1 → v3: 3 line(s) added, 1 removed" in out
    # 7. staged deals and a commitment
    assert "ok qatar: deal doha-phase-1 committed by every principal's YES" in out
    assert (
        "ok qatar: deal doha-full-relief aborted by iran/principal's NO and rolled back (2 step(s) void)"
        in out
    )
    assert "compensations: 2 step(s) void, none took effect; the prior state stands" in out
    assert "ok qatar: a mismatched reveal is refused" in out
    assert "ok qatar: commitment revealed and verified ('a second round in Muscat on 12 May')" in out
    # 8. USD 6 billion in escrow, released only on 30 attested days
    predicate = "predicate `iaea.enrichment_pct <= 3.67 sustained for 30 days`"
    assert (
        f"ok iran: an early release is refused with its progress (0 of 2 signatures; {predicate} held 0 of"
        in out
    )
    assert "ok iran: after 12 attested days the release is still refused" in out
    assert "ok iran: released after 30 attested days and 2 of 2 signatures" in out
    assert "ok usa: the escrow shows as released" in out
    for inspector in ("iaea", "euratom"):
        assert f"ok {inspector}: 12 daily attestations filed" in out
        assert f"ok {inspector}: 18 earlier daily attestations filed" in out
    # 9. an obligation fed by counted attestations: a burst escalates, the ticker steps it down
    assert "ok qatar: a metric in t for the agenda's stockpile_kg (kg) is refused, naming unit" in out
    assert "attested consumption: the value a quorum of (iaea, euratom) counts meters it" in out
    assert (
        "ok euratom: 5 kg attested by both inspectors: counted and metered within limits, level 0 (none)"
        in out
    )
    assert (
        "ok euratom: a 30 kg burst attested by both escalates one tier: level 0 -> 1 (sanctions-tier-1)"
        in out
    )
    assert (
        "ok usa: reads the escalation (shared with it): level 1 (sanctions-tier-1), inclusion proved" in out
    )
    assert "ok qatar: the ticker steps it down to level 0 (none) after the hold within limits" in out
    assert "obligation iran-stockpile: ladder timeline" in out
    timeline = "the obligation timeline: defined, up 0 -> 1 (caused by a counted attestation), down 1 -> 0"
    assert f"ok qatar: {timeline}" in out
    # 10. the witness: no client trusts a checkpoint norway has not cosigned
    for party in ("qatar", "usa", "iran"):
        assert re.search(
            rf"ok {party}: trusts only cosigned checkpoints: not size (\d+) \(no cosignature yet\) but size \d+",
            out,
        )
        assert re.search(
            rf"ok {party}: its checkpoint \d+ is trusted: signed by the log, cosigned by norway/principal "
            r"\(1 of 1 required\)",
            out,
        )
    cosigned = re.search(
        r"ok norway: norway cosigned (\d+) checkpoints, each consistent with the one before", out
    )
    assert cosigned is not None
    assert int(cosigned[1]) > 10

    # the final checkpoint: the log's signature line, then norway's cosignature line
    assert re.search(
        r"─+\nbackchannel\.local/us-iran-nuclear\n\d+\n[A-Za-z0-9+/=]+\n\n— backchannel\.local \S+\n"
        r"— norway/principal \S+\n",
        out,
    )
    assert "OK: all 61 checks passed" in out

    # The server was stopped: no PID file, the PID is gone, the port is closed.
    match = re.search(r"server: http://127\.0\.0\.1:(\d+) \(pid (\d+),", out)
    assert match is not None
    port, pid = int(match[1]), int(match[2])
    assert not (data_dir / "server.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_open(port)
    keys = sorted(p.name for p in (data_dir / "keys").iterdir())
    assert keys == [
        "euratom-principal.key", "iaea-principal.key", "iran-delegate.key", "iran-principal.key",
        "norway-principal.key", "qatar-principal.key", "usa-delegate.key", "usa-principal.key",
    ]  # fmt: skip
    assert all((data_dir / "keys" / k).stat().st_mode & 0o777 == 0o600 for k in keys)


def test_demo_log_keeps_the_foundation_demo(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "log", "--data-dir", str(tmp_path / "d")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "OK: every signature, leaf, root and checkpoint verifies" in result.output


# --- the commands against a running server --------------------------------------------------------
@contextmanager
def serving(data_dir: Path, *options: str) -> Iterator[str]:
    """``backchannel serve`` on a free loopback port; stopped (by its PID) on exit.

    The operator admits the mediator's key (issue #8): ``<data_dir>/../qatar-principal.key``.
    """
    mediator = keyfile(data_dir.parent, "qatar/principal")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        *BACKCHANNEL,
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--admit-key",
        str(mediator),
    ]
    with serve_process([*argv, *options], url, env=ENV):
        yield url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path / "server") as url:
        yield url


def keyfile(tmp_path: Path, name: str) -> Path:
    path = tmp_path / (name.replace("/", "-") + ".key")
    if not path.exists():  # the mediator's was made when the server started, to admit it
        write_key_file(path, KeyPair.generate(name))
    return path


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, key: Path, *args: str | Path, code: int = 0) -> str:
        argv = [str(a) for a in args] + ["--server", self.url, "--key", str(key)]
        if args[:2] != ("track", "open"):
            argv += ["--track", TRACK]
        result = self.runner.invoke(app, argv, env={"COLUMNS": "200"}, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output


def message_id(output: str) -> str:
    match = re.search(r"message id: ([0-9a-f]{64})", output)
    assert match is not None, output
    return match[1]


def test_the_commands_drive_a_negotiation(server: str, tmp_path: Path) -> None:
    cli = Cli(server)
    qatar, usa, iran = (keyfile(tmp_path, f"{p}/principal") for p in ("qatar", "usa", "iran"))
    usa_delegate = keyfile(tmp_path, "usa/delegate")

    assert "open_track: track.opened at index" in cli(qatar, "track", "open", TRACK, "--title", "Doha")
    for party, principal in (("usa", usa), ("iran", iran)):
        assert "party.admitted" in cli(qatar, "party", "admit", party, "--principal-key", principal)
    assert "member.enrolled" in cli(usa, "member", "enroll", "--new-key", usa_delegate, "--role", "delegate")

    agenda = tmp_path / "agenda.json"
    agenda.write_text(json.dumps({"version": 1, "issues": [
        {"name": "enrichment_cap_pct", "type": "number", "unit": "%", "min": 0, "max": 90, "step": 0.01},
        {"name": "sanctions_relief", "type": "one_of", "options": ["none", "tier-1", "full"]},
    ]}))  # fmt: skip
    assert "agenda v1 digest:" in cli(qatar, "agenda", "propose", agenda)
    for principal in (usa, iran):
        assert "agenda.ratified" in cli(principal, "agenda", "ratify", "1")

    # A malformed proposal: the problem's title and field-level reason are shown.
    refused = cli(
        usa_delegate,
        "send",
        "--kind",
        "proposal",
        "--body",
        '{"values": {"enrichment_cap_pct": 120}}',
        code=1,
    )
    assert "422" in refused
    assert "enrichment_cap_pct" in refused
    assert "above the maximum 90" in refused

    sent = cli(
        usa_delegate, "send", "--kind", "proposal", "--body", '{"values": {"enrichment_cap_pct": 3.67}}'
    )
    proposal = message_id(sent)
    assert proposal[:12] in cli(qatar, "inbox")
    relayed = cli(qatar, "relay", proposal, "--to", "iran")
    assert "message.forwarded" in relayed
    delivered_at = int(re.search(r"at index (\d+)", relayed)[1])  # type: ignore[index]
    polled = cli(iran, "inbox", "--poll", "--timeout", "5")
    assert proposal in polled
    pending = cli(usa_delegate, "receipts", proposal)
    assert "0 of 1 verified" in pending
    assert "pending" in pending
    assert "no receipt" in pending
    assert f"receipt for 1 message(s) ({proposal[:12]} at {delivered_at})" in cli(iran, "settle", proposal)
    # naming the index yourself: the same receipt again is a no-op; another index is refused
    assert "(replayed: already settled)" in cli(iran, "settle", f"{proposal}@{delivered_at}")
    wrong = cli(iran, "settle", f"{proposal}@{delivered_at + 1}", code=1)
    assert "422" in wrong
    assert "items.0.log_index" in wrong
    proven = cli(usa, "receipts", proposal)  # any member of the author's party
    assert "1 of 1 verified" in proven
    assert all(word in proven for word in ("settled", "iran/principal", "yes")), proven
    assert "404" in cli(iran, "receipts", proposal, code=1)  # the recipient may not ask
    assert "no delivery of " in cli(iran, "settle", "ab" * 32, code=1)
    assert "expected MESSAGE_ID or MESSAGE_ID@LOG_INDEX" in cli(iran, "settle", f"{proposal}@x", code=1)

    counter = message_id(
        cli(iran, "send", "--kind", "counter_proposal", "--in-reply-to", proposal,
            "--body", '{"values": {"enrichment_cap_pct": 20}}')
    )  # fmt: skip
    reframed = cli(
        qatar, "reframe", counter, "--to", "usa", "--body", '{"values": {"enrichment_cap_pct": 5}}'
    )
    reframed_id = message_id(reframed)
    streamed = cli(usa, "inbox", "--stream", "--timeout", "1")
    assert reframed_id in streamed
    cli(usa, "settle", reframed_id)

    transcript = cli(iran, "events")
    assert "message.forwarded" in transcript
    assert "receipt.recorded" in transcript
    assert "message.reframed" not in transcript  # the reframe went to usa only
    assert "0 escalation(s)" in cli(qatar, "escalations")

    # Keys: rotate the delegate's key, then revoke the new one; the old key no longer signs.
    new_delegate = tmp_path / "usa-delegate-2.key"
    write_key_file(new_delegate, KeyPair.generate("usa/delegate"))
    assert "rotate_key" in cli(usa_delegate, "key", "rotate", "--new-key", new_delegate)
    refused = cli(usa_delegate, "send", "--kind", "statement", "--body", '{"text": "hi"}', code=1)
    assert "refused by the service" in refused
    from backchannel.protocol.keyfile import read_key_file

    new_id = read_key_file(new_delegate).signing.key_id
    assert "revoke_key" in cli(usa, "keys", "revoke", new_id, "--subject", "usa/delegate")


def test_escalations_list_every_member_alerted(tmp_path: Path) -> None:
    """A flash message nobody settles: iran's alternate and the mediator are alerted, and both read it."""
    with serving(tmp_path / "server", "--flash-deadline", "0.5") as url:
        cli = Cli(url)
        qatar, usa, iran = (keyfile(tmp_path, f"{p}/principal") for p in ("qatar", "usa", "iran"))
        alternate = keyfile(tmp_path, "iran/alternate")
        cli(qatar, "track", "open", TRACK, "--title", "Doha")
        for party, principal in (("usa", usa), ("iran", iran)):
            cli(qatar, "party", "admit", party, "--principal-key", principal)
        cli(iran, "member", "enroll", "--new-key", alternate, "--role", "delegate")
        flash = message_id(
            cli(usa, "send", "--kind", "statement", "--priority", "flash", "--body", '{"text": "now"}')
        )
        cli(qatar, "relay", flash, "--to", "iran")
        deadline = time.monotonic() + 20
        while "1 escalation(s) alerting you" not in (listed := cli(alternate, "escalations", "--mine")):
            assert time.monotonic() < deadline, listed
            time.sleep(0.2)
        assert "iran/alternate (you)" in listed
        assert "qatar/principal" in listed
        assert flash[:12] in listed
        assert "iran/principal" not in listed  # iran has an active alternate: its principal is not paged
        mediator = cli(qatar, "escalations", "--mine")
        assert "1 escalation(s) alerting you" in mediator
        assert "qatar/principal (you)" in mediator
        assert "0 escalation(s) alerting you" in cli(iran, "escalations", "--mine")
        assert "1 escalation(s) and dead letter(s)" in cli(iran, "escalations")  # its party's delivery
        assert "1 escalation(s) and dead letter(s)" in cli(usa, "escalations")  # the sender learns of it too


def test_send_with_a_sealed_annex_and_annex_get(server: str, tmp_path: Path) -> None:
    cli = Cli(server)
    qatar, usa, iran = (keyfile(tmp_path, f"{p}/principal") for p in ("qatar", "usa", "iran"))
    iran_delegate = keyfile(tmp_path, "iran/delegate")
    cli(qatar, "track", "open", TRACK, "--title", "Doha")
    for party, principal in (("usa", usa), ("iran", iran)):
        cli(qatar, "party", "admit", party, "--principal-key", principal)
    cli(iran, "member", "enroll", "--new-key", iran_delegate, "--role", "delegate")
    annex = tmp_path / "inventory.txt"
    annex.write_bytes(b"cascade 1: 164 IR-1 centrifuges\n")

    assert "--annex" in cli(usa, "send", "--kind", "statement", "--body", "{}", "--seal-to", "iran", code=1)
    sent = cli(usa, "send", "--kind", "statement", "--body", '{"text": "see annex"}',
               "--annex", annex, "--seal-to", "iran")  # fmt: skip
    sealed = dict(re.findall(r"annex inventory\.txt sealed to (\S+): ([0-9a-f]{64})", sent))
    assert set(sealed) == {"iran/principal", "iran/delegate"}
    message = message_id(sent)
    got = tmp_path / "got.txt"
    assert "404" in cli(iran, "annex", "get", sealed["iran/principal"], "--out", got, "--open", code=1)
    cli(qatar, "relay", message, "--to", "iran")

    opened = cli(iran, "annex", "get", sealed["iran/principal"], "--out", got, "--open")
    assert f"{len(annex.read_bytes())} bytes written" in opened
    assert got.read_bytes() == annex.read_bytes()
    cli(iran_delegate, "annex", "get", sealed["iran/delegate"], "--out", got, "--open")
    assert got.read_bytes() == annex.read_bytes()
    relayed = tmp_path / "relayed.bin"
    assert "digest checked" in cli(qatar, "annex", "get", sealed["iran/delegate"], "--out", relayed)
    assert annex.read_bytes() not in relayed.read_bytes()  # the mediator holds only ciphertext
    refused = cli(qatar, "annex", "get", sealed["iran/delegate"], "--out", relayed, "--open", code=1)
    assert "sealed to" in refused  # and cannot open it

    plain = cli(usa, "annex", "put", annex)
    (digest,) = re.findall(r"annex inventory\.txt \(plain\): ([0-9a-f]{64})", plain)
    cli(usa, "annex", "get", digest, "--out", got)
    assert got.read_bytes() == annex.read_bytes()
