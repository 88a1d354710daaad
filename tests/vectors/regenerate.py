"""Rebuild the golden vectors under tests/vectors/golden/.

Run `make vectors` (or `.venv/bin/python tests/vectors/regenerate.py`) only when
a change to the signed bytes is intended; tests/unit/log/test_golden.py fails
whenever the committed bytes and the built ones differ.
"""

from pathlib import Path

from backchannel.testing.batch_vectors import BATCH_VECTOR_FILE, build_batch_vectors
from backchannel.testing.vectors import build_golden

GOLDEN = Path(__file__).parent / "golden"
BATCH = Path(__file__).parent / "batch"


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, data in build_golden().items():
        (GOLDEN / name).write_bytes(data)
        print(f"wrote {GOLDEN / name} ({len(data)} bytes)")
    BATCH.mkdir(exist_ok=True)  # batch-signed commands (ADR-0051)
    (BATCH / BATCH_VECTOR_FILE).write_bytes(build_batch_vectors())
    print(f"wrote {BATCH / BATCH_VECTOR_FILE}")


if __name__ == "__main__":
    main()
