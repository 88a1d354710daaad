"""The demo's key files: one 0600 file per member under ``<data_dir>/keys``, made once.

This module does not enrol anyone: the scenes sign the commands that do.
"""

from __future__ import annotations

from pathlib import Path

from backchannel.protocol.keyfile import KeyPair, read_key_file, write_key_file

__all__ = ["key_file", "member_keys"]


def key_file(key_dir: Path, name: str) -> Path:
    """Where the key file of member ``name`` lives in ``key_dir``."""
    return key_dir / f"{name.replace('/', '-')}.key"


def member_keys(key_dir: Path, name: str) -> KeyPair:
    """The key file of ``name`` in ``key_dir``: read if it exists, else generated and written."""
    path = key_file(key_dir, name)
    if path.exists():
        return read_key_file(path)
    keys = KeyPair.generate(name)
    write_key_file(path, keys)
    return keys
