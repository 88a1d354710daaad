"""Key files on disk: a member's (or the log's) Ed25519 and X25519 private keys.

A key file is JSON::

    {
        "type": "backchannel-key/1",
        "name": "usa/alice",
        "ed25519": {"key_id": "ed25519:...", "public": "<b64>", "private": "<b64 seed>"},
        "x25519": {"key_id": "x25519:...", "public": "<b64>", "private": "<b64>"},
    }

Files are created with mode 0600 (atomically, never world-readable for an
instant) and are refused on load when group or others can read them, as ssh
does. Public halves and key ids are stored for convenience and checked
against the private keys on load. Nothing here prints or logs a private key.

This module does not decide what a key may sign.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.log.signing import AgreementKey, SigningKey, b64decode, b64encode

__all__ = ["KEY_FILE_TYPE", "KeyPair", "read_key_file", "read_or_create_key_file", "write_key_file"]

KEY_FILE_TYPE = "backchannel-key/1"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A named holder's signing and agreement keys."""

    name: str
    signing: SigningKey
    agreement: AgreementKey

    @classmethod
    def generate(cls, name: str) -> KeyPair:
        """Generate fresh keys from the OS CSPRNG."""
        return cls(name=name, signing=generate_signing_key(), agreement=generate_agreement_key())

    def public_dict(self) -> dict[str, JSONValue]:
        """The public halves and key ids (safe to print and share)."""
        return {
            "name": self.name,
            "ed25519": {"key_id": self.signing.key_id, "public": self.signing.verifying_key.to_text()},
            "x25519": {"key_id": self.agreement.key_id, "public": self.agreement.to_text()},
        }


def _private_dict(keys: KeyPair) -> dict[str, JSONValue]:
    public = keys.public_dict()
    ed, x = public["ed25519"], public["x25519"]
    assert isinstance(ed, dict)
    assert isinstance(x, dict)
    return {
        "type": KEY_FILE_TYPE,
        "name": keys.name,
        "ed25519": {**ed, "private": b64encode(keys.signing.private_bytes_unsafe())},
        "x25519": {**x, "private": b64encode(keys.agreement.private_bytes_unsafe())},
    }


def write_key_file(path: Path, keys: KeyPair, *, overwrite: bool = False) -> None:
    """Write a key file with mode 0600, atomically.

    The key is written to a 0600 sibling created exclusively (its name unique to
    this process and call) and then linked (new file) or renamed (overwrite)
    into place: it is never readable by others, and an overwrite is all-or-nothing.

    Raises:
        ConfigurationError: the file exists (and ``overwrite`` is false) or
            cannot be written.
    """
    try:
        _place(path, keys, overwrite=overwrite)
    except FileExistsError as e:
        raise ConfigurationError(f"key file {path} exists; refusing to overwrite it") from e
    except OSError as e:
        raise ConfigurationError(f"cannot write key file {path}: {e.strerror}") from e


def read_or_create_key_file(path: Path, generate: Callable[[], KeyPair]) -> KeyPair:
    """Read the key file at ``path``, or create it with ``generate()`` if there is none.

    Creation is exclusive: the new file is linked into place only if no file
    is there (``os.link`` fails otherwise), so of several processes or threads
    creating it at once, exactly one writes its key and every other reads that
    one. A file appears complete or not at all.

    Raises:
        ConfigurationError: the file cannot be read or written, or is not a good key file.
    """
    if not path.exists():
        keys = generate()
        try:
            _place(path, keys, overwrite=False)
        except FileExistsError:
            pass  # another process created it first: its key wins
        except OSError as e:
            raise ConfigurationError(f"cannot write key file {path}: {e.strerror}") from e
        else:
            return keys
    return read_key_file(path)


def _place(path: Path, keys: KeyPair, *, overwrite: bool) -> None:
    """Write ``keys`` to a fresh 0600 sibling, then link (or rename) it to ``path`` (raises ``OSError``)."""
    data = json.dumps(_private_dict(keys), indent=2).encode("utf-8") + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            tmp.replace(path)
        else:
            os.link(tmp, path)  # fails if the target appeared meanwhile: never clobber
    finally:
        tmp.unlink(missing_ok=True)


def _section(obj: Mapping[str, JSONValue], name: str) -> Mapping[str, JSONValue]:
    section = obj.get(name)
    if not isinstance(section, Mapping):
        raise EncodingError(f"{name}: expected an object with key_id, public and private")
    return section


def _text(section: Mapping[str, JSONValue], field: str, where: str) -> str:
    value = section.get(field)
    if not isinstance(value, str):
        raise EncodingError(f"{where}.{field}: expected a string")
    return value


def read_key_file(path: Path) -> KeyPair:
    """Load and check a key file.

    Raises:
        ConfigurationError: missing file, permissions open to group/others,
            malformed content, or public halves that do not match the private keys.
    """
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigurationError(f"no key file at {path}") from e
    except OSError as e:
        raise ConfigurationError(f"cannot read key file {path}: {e.strerror}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run chmod 600 on it"
        )
    try:
        obj = loads_strict(raw)
        if not isinstance(obj, Mapping) or obj.get("type") != KEY_FILE_TYPE:
            raise EncodingError(f"type: expected {KEY_FILE_TYPE!r}")
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise EncodingError("name: expected a non-empty string")
        ed, x = _section(obj, "ed25519"), _section(obj, "x25519")
        signing = SigningKey.from_seed(
            b64decode(_text(ed, "private", "ed25519"), field="ed25519.private", length=32)
        )
        agreement = AgreementKey.from_private_bytes(
            b64decode(_text(x, "private", "x25519"), field="x25519.private", length=32)
        )
        stored = (
            _text(ed, "key_id", "ed25519"),
            _text(ed, "public", "ed25519"),
            _text(x, "key_id", "x25519"),
            _text(x, "public", "x25519"),
        )
    except EncodingError as e:
        raise ConfigurationError(f"key file {path} is malformed: {e}") from e
    if stored != (signing.key_id, signing.verifying_key.to_text(), agreement.key_id, agreement.to_text()):
        raise ConfigurationError(
            f"key file {path}: stored key ids or public keys do not match the private keys"
        )
    return KeyPair(name=name, signing=signing, agreement=agreement)


def generate_signing_key() -> SigningKey:
    """A new Ed25519 signing key from the operating system's CSPRNG.

    Key generation lives here, not in :mod:`backchannel.log.signing`: the log
    and the domain draw no randomness (a test pins this).
    """
    return SigningKey(Ed25519PrivateKey.generate())


def generate_agreement_key() -> AgreementKey:
    """A new X25519 key (annex sealing, ephemeral keys) from the operating system's CSPRNG."""
    return AgreementKey(X25519PrivateKey.generate())
