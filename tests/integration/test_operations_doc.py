"""docs/operations.md runs as written: every ``sh`` block, in order, in a scratch directory.

The ``serve`` block is started by the test on a free port of 127.0.0.1 and stopped by its PID once
it answers; the other blocks run in one bash session.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from backchannel.testing.server import free_port, serve_process

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env["COLUMNS"] = "300"
    return env


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return re.sub(r"\s+", " ", proc.stdout + proc.stderr)


def test_the_encryption_at_rest_section_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"```sh\n(.*?)```", OPERATIONS.read_text(), flags=re.DOTALL)
    serve_at = next(i for i, block in enumerate(blocks) if "backchannel serve" in block)
    env = environment()
    before = bash("\n".join(blocks[:serve_at]), tmp_path, env)
    assert re.search(r"master key mk:[0-9a-f]{16} written to master.key", before)
    serve = shlex.split(blocks[serve_at].split("#")[0].strip())
    port = free_port()
    serve[serve.index("--port") + 1] = str(port)
    with serve_process(serve, f"http://127.0.0.1:{port}", env=env, cwd=tmp_path):
        pass
    after = bash("\n".join(blocks[serve_at + 1 :]), tmp_path, env)
    assert "created track doha-talks" in after
    assert "track doha-talks: new data key v1" in after  # made by the first rotation: no entry was sealed yet
    assert "track doha-talks: new data key v2" in after
    assert "wrong master key: the store was encrypted with master key mk:" in after
    assert "the key from file other.key is mk:" in after
    assert "refused: not this store's master key" in after
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("backchannel.sqlite3*"))
    assert b"data_keys" in raw
