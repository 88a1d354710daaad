"""docs/tutorial.md runs as written, block by block, against a real ``backchannel serve`` on 127.0.0.1.

The ``sh`` block that starts the server is run by the test itself (its ``keys new`` line as written,
its ``serve`` line on a free port, stopped by its PID at the end); every other ``sh`` block runs in
one bash session, in order, in a scratch directory holding a copy of ``examples/``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backchannel.testing.server import free_port, serve_process

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", TUTORIAL.read_text(), flags=re.DOTALL)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    env["COLUMNS"] = "200"
    return env


@contextmanager
def serving(block: str, cwd: Path, env: dict[str, str]) -> Iterator[int]:
    """Run the block's ``keys new`` lines, then its ``serve`` line on a free port; yield the port."""
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    for line in lines:
        if line and " serve " not in f" {line} ":
            subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=cwd, env=env, check=True)
    serve = shlex.split(next(line for line in lines if line.startswith("backchannel serve")))
    port = free_port()
    serve[serve.index("--port") + 1] = str(port)
    with serve_process(serve, f"http://127.0.0.1:{port}", env=env, cwd=cwd):
        yield port


def test_the_tutorial_runs_against_a_live_server(tmp_path: Path) -> None:
    blocks = sh_blocks()
    serve_block = next(b for b in blocks if "backchannel serve" in b)
    rest = [b for b in blocks if b is not serve_block]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = environment()
    with serving(serve_block, tmp_path, env) as port:
        script = "\n".join(rest).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    out = re.sub(r"\s+", " ", proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "open_track: track.opened at index 1" in out
    assert "ratify_agenda: agenda.ratified" in out
    assert "forward_message: message.forwarded" in out
    assert "receipts of" in out
    assert "1 of 1 verified" in out
    assert "120 % is above the maximum 90" in out  # the malformed proposal, refused with its reason
    assert "deal doha-phase-1 committed" in out
    assert "held 0 of 2 days" in out  # the early release, refused with its progress
    assert "release_escrow: escrow.released" in out
    assert "escalated 0 -> 1 (sanctions-tier-1)" in out
    assert "backchannel.local/doha" in out  # the signed checkpoint's origin
    assert "you are the mediator, so you acknowledge a submission by relaying it" in out
    assert "next: receipt what you have read with `backchannel settle ID" in out
    assert "deal status: committed" in out
    assert "receipts verified: [True]" in out


def test_every_example_file_is_used_by_the_tutorial() -> None:
    text = TUTORIAL.read_text()
    for example in sorted((ROOT / "examples").iterdir()):
        assert f"examples/{example.name}" in text, example.name


def test_each_file_reading_command_shows_its_format_and_example_in_help() -> None:
    from typer.testing import CliRunner

    from backchannel.cli.main import app

    for command, example in (
        (["agenda", "propose"], "examples/agenda.json"),
        (["deal", "draft"], "examples/deal.json"),
        (["escrow", "open"], "examples/escrow.json"),
        (["obligation", "define"], "examples/obligation.json"),
    ):
        result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert example in text, command
        assert "The file is a JSON object" in text, command
