"""The README's examples run as written (docs are executed, eventsourcing-style)."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    first = blocks("sh")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == ["make demo", "make test"]


def test_cli_walkthrough_runs(tmp_path: Path) -> None:
    walkthrough = next(b for b in blocks("sh") if "backchannel keys new" in b)
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k != "BACKCHANNEL_DATA_DIR"}
    env["PATH"] = bin_dir + os.pathsep + env["PATH"]
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK: every signature, leaf, root and checkpoint verifies") == 2
    assert "inclusion proof (verified)" in proc.stdout


def test_library_example_runs(tmp_path: Path) -> None:
    example = blocks("python")[0]
    proc = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("2")
    assert "example.org/log/demo\n2\n" in proc.stdout
