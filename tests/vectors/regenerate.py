"""Rebuild the golden vectors under tests/vectors/golden/.

Run `make vectors` (or `.venv/bin/python tests/vectors/regenerate.py`) only when
a change to the signed bytes is intended; tests/unit/log/test_golden.py fails
whenever the committed bytes and the built ones differ.
"""

from pathlib import Path

from backchannel.testing.vectors import build_golden

GOLDEN = Path(__file__).parent / "golden"


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, data in build_golden().items():
        (GOLDEN / name).write_bytes(data)
        print(f"wrote {GOLDEN / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
