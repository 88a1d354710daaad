"""Envelope encryption of stored payloads: a master key wraps per-track data keys (issue #14, ADR-0057).

What a copy of the data directory must not give away is what the parties
said: the canonical signed-event bytes of each entry, its leaf salt and annex
blobs. Each is sealed with AES-256-GCM under its track's current *data key*;
data keys are random, one or more per track (rotation adds one, old ones stay
to read old rows), and are stored only *wrapped* (AES-256-GCM) under the
*master key*, which never touches the store: it is read from a file
(``--master-key-file``, ``BACKCHANNEL_MASTER_KEY_FILE``) or from the
environment (``BACKCHANNEL_MASTER_KEY``), as 32 bytes in base64.

- **Bound to its place.** A sealed payload's associated data names the track,
  what it is (:class:`PayloadKind`), where it is (an entry's index, an annex's
  digest) and the data key version, so a ciphertext copied to another row,
  track or column does not open.
- **Random nonces.** 96-bit nonces from the OS CSPRNG for every seal: a
  retried write never reuses a nonce with other bytes. Sealed form:
  ``0x01 || nonce (12) || ciphertext || tag (16)``.
- **A wrong master key is caught at start-up.** The store keeps a check value
  (a known constant sealed under the master key) and the master key's id (a
  one-way fingerprint): :meth:`PayloadCipher.check_master_key` raises
  :class:`~backchannel.errors.ConfigurationError` naming the key's source,
  never garbage.
- **Persistence is the store's.** :class:`DataKeyStore` is the small protocol a
  store implements to keep the check value and the wrapped data keys (SQLite:
  migration 0006; PostgreSQL: its own table).

Hashes, leaves, signatures and checkpoints are computed over the plaintext, as
before: proofs and offline verification do not change.

This module performs no SQL and no network I/O; it reads a key file or the
environment only when asked to (:meth:`MasterKeySource.load`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backchannel.errors import ConfigurationError, VerificationError

__all__ = [
    "KEY_BYTES",
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE_ENV",
    "DataKeyStore",
    "MasterKey",
    "MasterKeySource",
    "PayloadCipher",
    "PayloadKind",
    "Sealed",
    "WrappedDataKey",
    "generate_master_key",
    "write_master_key_file",
]

MASTER_KEY_ENV = "BACKCHANNEL_MASTER_KEY"
"""The environment variable holding the master key itself (base64)."""

MASTER_KEY_FILE_ENV = "BACKCHANNEL_MASTER_KEY_FILE"
"""The environment variable naming the master key file."""

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_FORMAT = b"\x01"  # AES-256-GCM, random 96-bit nonce
_CHECK_PLAINTEXT = b"backchannel master key check v1"
_LABEL_PAYLOAD = "backchannel/payload/v1"
_LABEL_DATA_KEY = "backchannel/data-key/v1"
_LABEL_CHECK = "backchannel/master-key-check/v1"
_LABEL_ID = b"backchannel/master-key-id/v1\x00"


class PayloadKind(StrEnum):
    """What a sealed payload is: part of its associated data."""

    SIGNED = "entry.signed"
    SALT = "entry.salt"
    ANNEX = "annex"


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def _aad(*fields: str) -> bytes:
    """Length-prefixed fields (4-byte big-endian lengths): no two field lists give the same bytes."""
    return b"".join(_field(field) for field in fields)


@functools.lru_cache(maxsize=4096)
def _payload_prefix(track: str, kind: PayloadKind) -> bytes:
    return _aad(_LABEL_PAYLOAD, track, kind)


def _payload_aad(track: str, kind: PayloadKind, where: str, version: int) -> bytes:
    """``_aad(label, track, kind, where, version)``, with the per-track prefix cached (reads are hot)."""
    return _payload_prefix(track, kind) + _field(where) + _field(str(version))


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _FORMAT + nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or ``None`` if ``sealed`` is malformed or fails authentication."""
    if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _FORMAT:
        return None
    try:
        return aead.decrypt(sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :], aad)
    except InvalidTag:
        return None


class MasterKey:
    """The 32-byte key that wraps every data key; it never leaves the process.

    Args:
        key: The 32 key bytes.
        source: Where it was read from (named in every error about it).

    Raises:
        ConfigurationError: ``key`` is not 32 bytes.
    """

    __slots__ = ("_aead", "key_id", "source")

    def __init__(self, key: bytes, source: str) -> None:
        """Hold ``key``; only its fingerprint is ever shown."""
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                f"the master key from {source} must be {KEY_BYTES} bytes, got {len(key)}"
            )
        self._aead = AESGCM(key)
        self.source = source
        self.key_id = "mk:" + hashlib.sha256(_LABEL_ID + key).hexdigest()[:16]
        """A one-way fingerprint naming the key in errors and in the store."""

    def __repr__(self) -> str:
        """Name the key by its id and source, never its bytes."""
        return f"MasterKey({self.key_id}, from {self.source})"

    def wrap(self, track: str, version: int, data_key: bytes) -> bytes:
        """Seal a data key, bound to its track and version."""
        return _seal(self._aead, data_key, _aad(_LABEL_DATA_KEY, track, str(version)))

    def unwrap(self, wrapped: WrappedDataKey) -> bytes:
        """Open a wrapped data key.

        Raises:
            ConfigurationError: it was wrapped under another master key.
            VerificationError: its stored bytes were altered or moved.
        """
        if wrapped.master_id != self.key_id:
            raise ConfigurationError(
                f"data key v{wrapped.version} of track {wrapped.track!r} is wrapped by master key "
                f"{wrapped.master_id}, not by the key from {self.source} ({self.key_id})"
            )
        key = _open(self._aead, wrapped.wrapped, _aad(_LABEL_DATA_KEY, wrapped.track, str(wrapped.version)))
        if key is None or len(key) != KEY_BYTES:
            raise VerificationError(
                f"data key v{wrapped.version} of track {wrapped.track!r} does not unwrap with the master "
                f"key from {self.source}: its stored bytes were altered or moved"
            )
        return key

    def check_value(self) -> bytes:
        """A known constant sealed under this key: lets a store tell a wrong key at start-up."""
        return _seal(self._aead, _CHECK_PLAINTEXT, _aad(_LABEL_CHECK, self.key_id))

    def verify_check(self, master_id: str, check: bytes) -> None:
        """Check this is the master key the store was encrypted with.

        Raises:
            ConfigurationError: another key (or a damaged check value), naming the source.
        """
        if master_id != self.key_id:
            raise ConfigurationError(
                f"wrong master key: the store was encrypted with master key {master_id}, "
                f"the key from {self.source} is {self.key_id}"
            )
        if _open(self._aead, check, _aad(_LABEL_CHECK, self.key_id)) != _CHECK_PLAINTEXT:
            raise ConfigurationError(
                f"the store's master key check value does not open with the key from {self.source} "
                "(the value was altered)"
            )


def generate_master_key() -> str:
    """A fresh master key from the OS CSPRNG, as the base64 text a key file or variable holds."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def write_master_key_file(path: Path) -> MasterKey:
    """Write a fresh master key to ``path`` (mode 0600, created exclusively, never overwritten).

    Returns:
        The key written (for its id).

    Raises:
        ConfigurationError: the file exists or cannot be written.
    """
    text = generate_master_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileExistsError as e:
        raise ConfigurationError(f"master key file {path} exists; refusing to overwrite it") from e
    except OSError as e:
        raise ConfigurationError(f"cannot write master key file {path}: {e.strerror}") from e
    return MasterKey(base64.b64decode(text), f"file {path}")


def _decode(text: str, source: str) -> MasterKey:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigurationError(f"the master key from {source} is not base64 ({e})") from e
    return MasterKey(key, source)


@dataclass(frozen=True, slots=True)
class MasterKeySource:
    """Where the master key comes from: a file, or an environment variable holding it.

    Attributes:
        path: A key file (base64 of 32 bytes; refused when group or others may read it).
        env: The name of an environment variable holding the base64 key.
    """

    path: Path | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        """Exactly one of ``path`` and ``env``."""
        if (self.path is None) == (self.env is None):
            raise ConfigurationError("a master key source is either a file or an environment variable")

    def __str__(self) -> str:
        """``file PATH`` or ``environment variable NAME``: how errors name it."""
        return f"file {self.path}" if self.path is not None else f"environment variable {self.env}"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> MasterKeySource | None:
        """The source the environment names: ``BACKCHANNEL_MASTER_KEY_FILE`` or ``BACKCHANNEL_MASTER_KEY``.

        Returns:
            ``None`` when neither is set (or both are empty).

        Raises:
            ConfigurationError: both are set.
        """
        env = os.environ if environ is None else environ
        file, key = env.get(MASTER_KEY_FILE_ENV), env.get(MASTER_KEY_ENV)
        if file and key:
            raise ConfigurationError(f"set {MASTER_KEY_FILE_ENV} or {MASTER_KEY_ENV}, not both")
        if file:
            return cls(path=Path(file))
        return cls(env=MASTER_KEY_ENV) if key else None

    def load(self, environ: Mapping[str, str] | None = None) -> MasterKey:
        """Read the key.

        Raises:
            ConfigurationError: missing, unreadable, readable by group or others,
                not base64, or not 32 bytes; the message names the source.
        """
        if self.path is None:
            assert self.env is not None
            value = (os.environ if environ is None else environ).get(self.env)
            if not value:
                raise ConfigurationError(f"no master key: {self} is not set")
            return _decode(value, str(self))
        try:
            mode = self.path.stat().st_mode
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError as e:
            raise ConfigurationError(f"no master key file at {self.path}") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigurationError(f"cannot read the master key {self}: {e}") from e
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(
                f"master key file {self.path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                "run chmod 600 on it"
            )
        return _decode(text, str(self))


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A data key as a store keeps it: wrapped under the master key.

    Attributes:
        track: The track it seals.
        version: 1, 2, ...: the highest is the track's current key.
        created: When it was made (Unix seconds).
        master_id: The id of the master key that wrapped it.
        wrapped: The sealed key bytes.
    """

    track: str
    version: int
    created: int
    master_id: str
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed payload and the version of the data key that sealed it."""

    key_version: int
    blob: bytes


class DataKeyStore(Protocol):
    """Where a store keeps the master key check value and the wrapped data keys.

    A store implements these four; :class:`PayloadCipher` calls them outside
    the store's own write transactions.
    """

    def load_key_check(self) -> tuple[str, bytes] | None:
        """The stored ``(master key id, check value)``, or ``None`` before encryption was first on."""
        ...

    def save_key_check(self, master_id: str, check: bytes) -> tuple[str, bytes]:
        """Store the check value unless one is stored; return the stored one (first writer wins)."""
        ...

    def load_data_keys(self, track: str) -> list[WrappedDataKey]:
        """Every wrapped data key of ``track``, any order."""
        ...

    def save_data_key(self, key: WrappedDataKey) -> bool:
        """Store a wrapped key; ``False`` (nothing written) if its (track, version) is taken."""
        ...


class PayloadCipher:
    """Seals and opens a store's payloads with per-track data keys wrapped by a master key.

    Thread-safe. Unwrapped data keys are cached per track; a version this
    object has not seen (another process rotated) is loaded on first use.

    Args:
        master: The master key.
        keys: The store's persistence of check value and wrapped keys.
        clock: Unix seconds (the creation time of new data keys).
    """

    def __init__(
        self, master: MasterKey, keys: DataKeyStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Bind the master key to a store's key table (nothing is read yet)."""
        self._master = master
        self._keys = keys
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, dict[int, AESGCM]] = {}

    @property
    def master(self) -> MasterKey:
        """The master key (its id and source)."""
        return self._master

    def check_master_key(self) -> None:
        """At start-up: record the check value the first time, else verify this is the store's key.

        Raises:
            ConfigurationError: a wrong master key, naming its source.
        """
        stored = self._keys.load_key_check()
        if stored is None:
            stored = self._keys.save_key_check(self._master.key_id, self._master.check_value())
        self._master.verify_check(*stored)

    def _load(self, track: str) -> dict[int, AESGCM]:
        """Unwrap every stored key of ``track`` (under the lock)."""
        found = {
            wrapped.version: AESGCM(self._master.unwrap(wrapped))
            for wrapped in self._keys.load_data_keys(track)
        }
        self._cache[track] = found
        return found

    def _add(self, track: str, after: int) -> int:
        """Store version ``after + 1`` of ``track``'s data key (or find another writer's); under the lock."""
        version = after + 1
        wrapped = WrappedDataKey(
            track,
            version,
            int(self._clock()),
            self._master.key_id,
            self._master.wrap(track, version, os.urandom(KEY_BYTES)),
        )
        self._keys.save_data_key(wrapped)  # False: another writer stored this version first; theirs is loaded
        return max(self._load(track))

    def _current(self, track: str) -> tuple[int, AESGCM]:
        with self._lock:
            keys = self._cache.get(track) or self._load(track)
            if not keys:
                self._add(track, 0)
                keys = self._cache[track]
            version = max(keys)
            return version, keys[version]

    def _version(self, track: str, version: int) -> AESGCM | None:
        with self._lock:
            aead = self._cache.get(track, {}).get(version)
            if aead is None:
                aead = self._load(track).get(version)
            return aead

    def current_version(self, track: str) -> int | None:
        """The version new payloads of ``track`` are sealed with (``None``: no key yet)."""
        with self._lock:
            keys = self._load(track)
        return max(keys) if keys else None

    def rotate(self, track: str) -> int:
        """Make a new data key for ``track``: later seals use it, older payloads still open.

        Returns:
            The new key's version.
        """
        with self._lock:
            keys = self._load(track)
            return self._add(track, max(keys, default=0))

    def seal(self, track: str, kind: PayloadKind, where: str, plaintext: bytes) -> Sealed:
        """Seal ``plaintext`` with ``track``'s current data key (made on first use).

        Args:
            track: The track.
            kind: What it is.
            where: Its place: an entry's index, an annex's digest in hex.
            plaintext: The bytes.
        """
        version, aead = self._current(track)
        return Sealed(version, _seal(aead, plaintext, _payload_aad(track, kind, where, version)))

    def open(self, track: str, kind: PayloadKind, where: str, sealed: Sealed) -> bytes:
        """Open what :meth:`seal` sealed for the same track, kind and place.

        Raises:
            VerificationError: the bytes were altered, moved from another place,
                or name a data key the store does not hold.
        """
        aead = self._version(track, sealed.key_version)
        if aead is None:
            raise VerificationError(
                f"track {track!r}: {kind} at {where} names data key v{sealed.key_version}, "
                "which the store does not hold"
            )
        plaintext = _open(aead, sealed.blob, _payload_aad(track, kind, where, sealed.key_version))
        if plaintext is None:
            raise VerificationError(
                f"track {track!r}: {kind} at {where} does not decrypt with data key v{sealed.key_version}: "
                "the stored bytes were altered or moved from another place"
            )
        return plaintext
