"""Batch-signed commands (ADR-0051): one Ed25519 signature over the Merkle root of a batch.

A member may sign up to :data:`MAX_BATCH_SIZE` commands at once. Each command's
digest (SHA-256 of its payload's RFC 8785 bytes, as for a single command) is a
leaf of an RFC 6962 / RFC 9162 Merkle tree, hashed with the log's own functions
(:mod:`backchannel.log.merkle`)::

    leaf i   = SHA-256(0x00 || digest_i)
    node     = SHA-256(0x01 || left || right)
    root     = MTH(leaf 0 .. leaf size-1)
    message  = "backchannel/command-batch/v1" LF || uint64_be(size) || root
    signature = Ed25519(member key, message)

Each command then carries, instead of its own ``sig``, the proof that it is
in the signed batch::

    "batch": {"root": b64, "index": i, "size": n, "path": [b64, ...], "signature": b64}

so it stays provable on its own: the path leads from its digest to the root
(RFC 9162 section 2.1.3.2) and the signature covers the root and the size. The
message starts with a domain separation tag that no canonical JSON payload (it
starts with ``{``) can equal, so a batch signature is never a single command's
signature, nor the other way round.

- :func:`prove_batch` builds the tree and signs it (the signer's side): one
  :class:`BatchProof` per digest, in order.
- :meth:`BatchProof.verify` checks a command's digest against its proof and the
  root's signature under a key (the verifier's side). A root signature that
  verified once is remembered (:func:`verify_root`, a bounded cache keyed by
  the key, the signed message and the signature: Ed25519 is deterministic to
  verify), so a batch of ``n`` commands costs one signature verification and
  ``n`` inclusion checks of ``log2(n)`` hashes each.

This module does not decide which key may sign (the track's key history does),
whether a batch mixes members or repeats a command (the service's admission,
:mod:`backchannel.service.batch`), and does no I/O.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backchannel.errors import EncodingError, VerificationError
from backchannel.log import merkle
from backchannel.log.canonical import JSONValue
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode

__all__ = [
    "BATCH_TAG",
    "MAX_BATCH_SIZE",
    "BatchProof",
    "batch_leaf",
    "batch_message",
    "batch_root",
    "prove_batch",
    "verify_root",
]

BATCH_TAG = b"backchannel/command-batch/v1\n"
"""The domain separation tag that starts every signed batch message."""

MAX_BATCH_SIZE = 1024
"""The most commands one batch signature may cover (a path has at most 10 hashes)."""

_HASH_SIZE = 32
_SIGNATURE_SIZE = 64
_MAX_PATH = (MAX_BATCH_SIZE - 1).bit_length()
_FIELDS = frozenset({"root", "index", "size", "path", "signature"})
_CACHE_SIZE = 4096
_verified: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
_verified_lock = threading.Lock()


def batch_leaf(digest: bytes) -> bytes:
    """The leaf hash of a command digest: ``SHA-256(0x00 || digest)``."""
    return merkle.leaf_hash(digest)


def batch_message(root: bytes, size: int) -> bytes:
    """The bytes a batch signature covers: the tag, the size as 8 big-endian bytes, the root."""
    return BATCH_TAG + size.to_bytes(8, "big") + root


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The tree's levels, leaves first: pairs hashed left to right, an odd last node carried up.

    Carrying the last node of an odd level up unchanged builds exactly the tree of
    RFC 9162 section 2.1.1 (split at the largest power of two below the size).
    """
    levels = [leaves]
    sha = hashlib.sha256
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def batch_root(digests: Sequence[bytes]) -> bytes:
    """The Merkle root of a batch of command digests (at least one)."""
    if not digests:
        raise EncodingError("a batch holds at least one command")
    return _levels([batch_leaf(d) for d in digests])[-1][0]


def prove_batch(key: SigningKey, digests: Sequence[bytes]) -> list[BatchProof]:
    """Sign a batch of command digests once; one proof per digest, in order.

    Raises:
        EncodingError: no digests, more than :data:`MAX_BATCH_SIZE`, or a digest
            that is not 32 bytes.
    """
    if not 1 <= len(digests) <= MAX_BATCH_SIZE:
        raise EncodingError(f"a batch holds 1 to {MAX_BATCH_SIZE} commands, not {len(digests)}")
    for position, digest in enumerate(digests):
        value: object = digest
        if not isinstance(value, bytes) or len(value) != _HASH_SIZE:
            raise EncodingError(f"digest {position}: expected 32 bytes")
    levels = _levels([batch_leaf(d) for d in digests])
    root, size = levels[-1][0], len(digests)
    signature = key.sign(batch_message(root, size))
    proofs = []
    for index in range(size):
        path, i = [], index
        for level in levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            i >>= 1
        proofs.append(BatchProof(root, index, size, tuple(path), signature))
    return proofs


def verify_root(key: VerifyingKey, root: bytes, size: int, signature: bytes) -> None:
    """Check the batch signature over ``root`` and ``size``; a signature that verified once is remembered.

    Raises:
        VerificationError: the signature does not verify under ``key``.
    """
    message = batch_message(root, size)
    entry = (key.public_bytes, message, signature)
    with _verified_lock:
        if entry in _verified:
            _verified.move_to_end(entry)
            return
    key.verify(signature, message)
    with _verified_lock:
        _verified[entry] = None
        while len(_verified) > _CACHE_SIZE:
            _verified.popitem(last=False)


@dataclass(frozen=True, slots=True)
class BatchProof:
    """A command's place in a signed batch: the root, its leaf index, the batch size, the path, the signature.

    Construction checks the shape (32-byte hashes, ``0 <= index < size <=``
    :data:`MAX_BATCH_SIZE`, at most 10 path hashes, a 64-byte signature); whether
    the path leads to the root and the signature verifies is :meth:`verify`'s.

    Raises:
        EncodingError: on construction, the first malformed field, named (``batch.index``...).
    """

    root: bytes
    index: int
    size: int
    path: tuple[bytes, ...]
    signature: bytes
    _text: tuple[str, tuple[str, ...], str] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )  # root, path and signature in base64, computed once

    def __post_init__(self) -> None:
        """Check each field's shape."""
        root: object = self.root
        if not isinstance(root, bytes) or len(root) != _HASH_SIZE:
            raise EncodingError("batch.root: expected a 32-byte hash")
        size: object = self.size
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_BATCH_SIZE:
            raise EncodingError(f"batch.size: expected an integer from 1 to {MAX_BATCH_SIZE} (max batch)")
        index: object = self.index
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise EncodingError(f"batch.index: expected an integer from 0 to size - 1 ({self.size - 1})")
        path: object = self.path
        if not isinstance(path, tuple) or len(path) > _MAX_PATH:
            raise EncodingError(f"batch.path: expected at most {_MAX_PATH} hashes")
        for position, node in enumerate(path):
            if not isinstance(node, bytes) or len(node) != _HASH_SIZE:
                raise EncodingError(f"batch.path.{position}: expected a 32-byte hash")
        signature: object = self.signature
        if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
            raise EncodingError("batch.signature: expected a 64-byte Ed25519 signature")

    def _base64(self) -> tuple[str, tuple[str, ...], str]:
        if self._text is None:
            path = tuple(b64encode(node) for node in self.path)
            text = (b64encode(self.root), path, b64encode(self.signature))
            object.__setattr__(self, "_text", text)
        assert self._text is not None
        return self._text

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form: hashes and the signature in standard base64 (a fresh copy)."""
        root, path, signature = self._base64()
        return {
            "root": root,
            "index": self.index,
            "size": self.size,
            "path": list(path),
            "signature": signature,
        }

    def to_bytes(self) -> bytes:
        """``canonicalize(self.to_dict())``, written directly (a test pins the equality).

        Keys in RFC 8785 order (``index`` < ``path`` < ``root`` < ``signature`` < ``size``);
        base64 text and integers need no escaping.
        """
        root, path, signature = self._base64()
        nodes = ",".join(f'"{node}"' for node in path)
        text = f'{{"index":{self.index},"path":[{nodes}],"root":"{root}","signature":"{signature}",'
        return f'{text}"size":{self.size}}}'.encode("ascii")

    @classmethod
    def from_dict(cls, value: JSONValue, field: str = "batch") -> BatchProof:
        """Decode the JSON form strictly.

        Raises:
            EncodingError: not an object, unknown or missing fields, wrong types,
                bad base64 or sizes; the message names the field.
        """
        if not isinstance(value, Mapping):
            raise EncodingError(f"{field}: expected an object")
        if set(value) != _FIELDS:
            unknown, missing = sorted(set(value) - _FIELDS), sorted(_FIELDS - set(value))
            raise EncodingError(
                f"{field}: expected exactly {sorted(_FIELDS)} (unknown {unknown}, missing {missing})"
            )
        path = value["path"]
        if not isinstance(path, list) or len(path) > _MAX_PATH:
            raise EncodingError(f"{field}.path: expected a list of at most {_MAX_PATH} base64 hashes")
        for name in ("root", "signature"):
            if not isinstance(value[name], str):
                raise EncodingError(f"{field}.{name}: expected base64 text")
        nodes = []
        for position, node in enumerate(path):
            if not isinstance(node, str):
                raise EncodingError(f"{field}.path.{position}: expected base64 text")
            nodes.append(b64decode(node, field=f"{field}.path.{position}", length=_HASH_SIZE))
        root, signature = value["root"], value["signature"]
        assert isinstance(root, str)
        assert isinstance(signature, str)
        index, size = value["index"], value["size"]
        if not isinstance(index, int) or not isinstance(size, int):
            raise EncodingError(f"{field}.index, {field}.size: expected integers")
        return cls(
            b64decode(root, field=f"{field}.root", length=_HASH_SIZE),
            index,
            size,
            tuple(nodes),
            b64decode(signature, field=f"{field}.signature", length=_SIGNATURE_SIZE),
        )

    def verify(self, digest: bytes, key: VerifyingKey) -> None:
        """Check that ``digest`` is leaf :attr:`index` of the batch and that ``key`` signed its root.

        Raises:
            VerificationError: ``batch.path`` does not lead from the digest to the
                root, or ``batch.signature`` does not verify under ``key``.
        """
        try:
            merkle.verify_inclusion(batch_leaf(digest), self.index, self.size, self.path, self.root)
        except VerificationError as e:
            raise VerificationError(f"batch.path: inclusion rule: {e}") from e
        try:
            verify_root(key, self.root, self.size, self.signature)
        except VerificationError as e:
            raise VerificationError(
                f"batch.signature: the batch root's signature does not verify under {key.key_id}"
            ) from e
