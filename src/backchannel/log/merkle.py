"""RFC 6962 / RFC 9162 Merkle tree hashing: reference builders and proof verifiers.

The tree hash of RFC 9162 section 2.1.1 over SHA-256, with domain separation
between leaves and interior nodes::

    MTH({})       = SHA-256()
    leaf hash     = SHA-256(0x00 || data)
    node hash     = SHA-256(0x01 || left || right)
    MTH(D[n])     = node hash(MTH(D[0:k]), MTH(D[k:n]))  with k the largest
                    power of two smaller than n

All hashes are raw 32-byte :class:`bytes`; leaf indices are 0-based.

Two kinds of functions live here:

- The *builders* :func:`root`, :func:`inclusion_proof` and
  :func:`consistency_proof` are the reference definitions of RFC 9162
  sections 2.1.1, 2.1.3.1 and 2.1.4.1, written recursively exactly as the RFC
  states them. They take the whole list of leaf hashes (O(n) work) and exist to
  pin down the expected bytes; the production, O(log n) versions are in
  :mod:`backchannel.log.tree` and must agree with these byte for byte. Bad
  arguments raise :class:`IndexError` (a leaf index outside the tree),
  :class:`ValueError` (a size outside the tree, a hash that is not 32 bytes) or
  :class:`TypeError` (a hash that is not :class:`bytes`).
- The *verifiers* :func:`verify_inclusion` and :func:`verify_consistency`
  implement the verification algorithms of RFC 9162 sections 2.1.3.2 and
  2.1.4.2 step by step, iteratively, and raise
  :class:`~backchannel.errors.VerificationError` (and nothing else) for every
  failure: a mismatch, a malformed proof, bad argument types or ranges. They
  return ``None`` on success.

Edge cases outside the RFC's ``0 < first < second`` verification algorithm, as
decided here:

- ``old_size == new_size``: the proof must be empty and the two roots equal
  (RFC 9162 section 2.1.4.1: the proof between equal trees is empty).
- ``old_size == 0``: the proof must be empty (the empty tree is a prefix of
  every tree and :func:`consistency_proof` returns an empty proof for it), and
  ``old_root`` must be the empty-tree hash ``SHA-256()``, the only root a tree
  of size 0 can have. ``new_root`` is then only checked to be 32 bytes.

This module is pure (no I/O, no clock, no randomness). It does not store trees,
compute proofs from stored nodes, or decide which roots to trust: see
:mod:`backchannel.log.tree` and :mod:`backchannel.log.checkpoint`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from backchannel.errors import VerificationError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

_HASH_SIZE = 32

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

_EMPTY_ROOT = _sha256(b"").digest()
# A hasher already fed the node prefix; never updated, only copied (copying it is
# faster than hashing the prefix again).
_NODE_HASHER = _sha256(_NODE_PREFIX)
# For the argument checks of the verifiers.
_ONLY_BYTES = frozenset({bytes})
_ONLY_HASH_SIZE = frozenset({_HASH_SIZE})
_PROOF_TYPES = frozenset({list, tuple})


# --------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Hash leaf data: ``SHA-256(0x00 || data)``.

    Args:
        data: The leaf's data, any length.

    Returns:
        The 32-byte leaf hash.
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent: ``SHA-256(0x01 || left || right)``.

    Args:
        left: The left child's 32-byte hash.
        right: The right child's 32-byte hash.

    Returns:
        The 32-byte parent hash.

    Raises:
        TypeError: a child is not :class:`bytes`.
        ValueError: a child is not 32 bytes long.
    """
    _check_hash(left, "left")
    _check_hash(right, "right")
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != _HASH_SIZE:
        raise ValueError(f"{what} must be {_HASH_SIZE} bytes, not {len(value)}")


def _check_leaves(leaf_hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")


# --------------------------------------------------------------------------
# Reference builders (RFC 9162 sections 2.1.1, 2.1.3.1, 2.1.4.1)
# --------------------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of the non-empty leaf range ``[lo, hi)``."""
    n = hi - lo
    if n == 1:
        return hashes[lo]
    k = _split(n)
    return _sha256(_NODE_PREFIX + _mth(hashes, lo, lo + k) + _mth(hashes, lo + k, hi)).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Compute the Merkle Tree Hash of a list of leaf hashes (RFC 9162 2.1.1).

    Args:
        leaf_hashes: The leaf hashes, in log order.

    Returns:
        The 32-byte root; SHA-256 of the empty string for no leaves.

    Raises:
        TypeError: a leaf hash is not :class:`bytes`.
        ValueError: a leaf hash is not 32 bytes long.
    """
    _check_leaves(leaf_hashes)
    if not leaf_hashes:
        return _EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _path(hashes: Sequence[bytes], m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1, ``m`` relative to ``lo``."""
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(hashes, m, lo, lo + k), _mth(hashes, lo + k, hi)]
    return [*_path(hashes, m - k, lo + k, hi), _mth(hashes, lo, lo + k)]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Compute the inclusion proof (audit path) of one leaf (RFC 9162 2.1.3.1).

    Args:
        leaf_hashes: The leaf hashes of the whole tree, in log order.
        index: The 0-based index of the leaf to prove.

    Returns:
        The audit path, from the leaf's sibling up to the root's child.

    Raises:
        IndexError: ``index`` is not in ``[0, len(leaf_hashes))``.
        TypeError: a leaf hash is not :class:`bytes`.
        ValueError: a leaf hash is not 32 bytes long.
    """
    _check_leaves(leaf_hashes)
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise IndexError(f"leaf index {index} is outside the tree of size {size}")
    return _path(leaf_hashes, index, 0, size)


def _subproof(hashes: Sequence[bytes], m: int, lo: int, hi: int, *, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 2.1.4.1, ``m`` relative to ``lo``."""
    n = hi - lo
    if m == n:
        return [] if b else [_mth(hashes, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(hashes, m, lo, lo + k, b=b), _mth(hashes, lo + k, hi)]
    return [*_subproof(hashes, m - k, lo + k, hi, b=False), _mth(hashes, lo, lo + k)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Compute the consistency proof from an older tree size (RFC 9162 2.1.4.1).

    Args:
        leaf_hashes: The leaf hashes of the (newer) tree, in log order.
        old_size: The size of the older tree, ``0 <= old_size <= len(leaf_hashes)``.

    Returns:
        ``PROOF(old_size, D[n])``; empty when ``old_size`` is 0 or equals the
        tree size.

    Raises:
        ValueError: ``old_size`` is negative or larger than the tree, or a leaf
            hash is not 32 bytes long.
        TypeError: a leaf hash is not :class:`bytes`.
    """
    _check_leaves(leaf_hashes)
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside [0, {size}]")
    if old_size in {0, size}:
        return []
    return _subproof(leaf_hashes, old_size, 0, size, b=True)


# --------------------------------------------------------------------------
# Verifiers (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# --------------------------------------------------------------------------


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise VerificationError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise VerificationError(f"{what} must not be negative, got {value}")
    return value


def _check_verify_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise VerificationError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != _HASH_SIZE:
        raise VerificationError(f"{what} must be {_HASH_SIZE} bytes, got {len(value)}")
    return value


def _check_proof(proof: object) -> Sequence[bytes]:
    if not isinstance(proof, list | tuple):
        raise VerificationError(f"proof must be a list or tuple of hashes, not {type(proof).__name__}")
    # Fast path (C loops); the slow one below names the first bad element.
    if _ONLY_BYTES.issuperset(map(type, proof)) and _ONLY_HASH_SIZE.issuperset(map(len, proof)):
        return proof
    for i, p in enumerate(proof):
        if not isinstance(p, bytes):
            raise VerificationError(f"proof element {i} must be bytes, not {type(p).__name__}")
        if len(p) != _HASH_SIZE:
            raise VerificationError(f"proof element {i} must be {_HASH_SIZE} bytes, got {len(p)}")
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof (RFC 9162 section 2.1.3.2).

    Args:
        leaf_hash: The 32-byte hash of the leaf claimed to be in the tree.
        index: The leaf's 0-based index.
        tree_size: The size of the tree ``root`` belongs to.
        proof: The audit path, a list or tuple of 32-byte hashes.
        root: The 32-byte root the proof must lead to.

    Raises:
        VerificationError: the proof does not prove the leaf at ``index`` in
            the tree of ``tree_size`` with ``root``: an argument has the wrong
            type, a hash is not 32 bytes, ``index`` is not in
            ``[0, tree_size)``, the proof is too short or too long, or it leads
            to another root. ``index`` is set on the error once the leaf index
            has been checked to be in range.
    """
    # Fast path: exact types, lengths and ranges, checked inline; anything else
    # takes the slow path, which names what is wrong (or accepts subclasses).
    if not (
        type(leaf_hash) is bytes
        and len(leaf_hash) == _HASH_SIZE
        and type(root) is bytes
        and len(root) == _HASH_SIZE
        and type(proof) in _PROOF_TYPES
        and _ONLY_BYTES.issuperset(map(type, proof))
        and _ONLY_HASH_SIZE.issuperset(map(len, proof))
        and type(index) is int
        and type(tree_size) is int
        and 0 <= index < tree_size
    ):
        _check_verify_hash(leaf_hash, "leaf hash")
        _check_verify_hash(root, "root")
        _check_proof(proof)
        _check_size(index, "leaf index")
        _check_size(tree_size, "tree size")
        # Step 1.
        if index >= tree_size:
            raise VerificationError(f"leaf index {index} is outside the tree of size {tree_size}")
    # Steps 2-4.
    fn = index
    sn = tree_size - 1
    r = leaf_hash
    path = proof
    new_node = _NODE_HASHER.copy
    for p in path:
        if sn == 0:
            raise VerificationError(
                f"inclusion proof for leaf {index} in tree of size {tree_size} is too long:"
                f" {len(path)} hashes",
                index=index,
            )
        h = new_node()
        if fn & 1 or fn == sn:
            h.update(p + r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            h.update(r + p)
        r = h.digest()
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise VerificationError(
            f"inclusion proof for leaf {index} in tree of size {tree_size} is too short: {len(path)} hashes",
            index=index,
        )
    if r != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} in tree of size {tree_size} leads to root {r.hex()},"
            f" expected {root.hex()}",
            index=index,
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Verify a consistency proof between two tree heads (RFC 9162 section 2.1.4.2).

    ``0 < old_size < new_size`` runs the RFC algorithm. Equal sizes need an
    empty proof and equal roots; ``old_size == 0`` needs an empty proof and
    ``old_root`` equal to SHA-256 of the empty string (see the module
    docstring).

    Args:
        old_size: The size of the older tree.
        new_size: The size of the newer tree.
        old_root: The older tree's 32-byte root.
        new_root: The newer tree's 32-byte root.
        proof: The consistency proof, a list or tuple of 32-byte hashes.

    Raises:
        VerificationError: the proof does not show that the tree of
            ``old_size`` with ``old_root`` is a prefix of the tree of
            ``new_size`` with ``new_root``: an argument has the wrong type, a
            size is negative, ``old_size > new_size``, a hash is not 32 bytes,
            the proof is too short or too long, or it leads to other roots.
    """
    first = _check_size(old_size, "old size")
    second = _check_size(new_size, "new size")
    _check_verify_hash(old_root, "old root")
    _check_verify_hash(new_root, "new root")
    path = _check_proof(proof)
    if first > second:
        raise VerificationError(f"old size {first} is larger than new size {second}")
    if first == second:
        if path:
            raise VerificationError(f"consistency proof between equal sizes {first} must be empty")
        if old_root != new_root:
            raise VerificationError(f"roots differ for the same tree size {first}")
        return
    if first == 0:
        if path:
            raise VerificationError("consistency proof from the empty tree must be empty")
        if old_root != _EMPTY_ROOT:
            raise VerificationError("old root of the empty tree is not SHA-256 of the empty string")
        return
    fr, sr = _consistency_roots(first, second, old_root, path)
    if fr != old_root:
        raise VerificationError(
            f"consistency proof from size {first} to {second} leads to old root {fr.hex()},"
            f" expected {old_root.hex()}"
        )
    if sr != new_root:
        raise VerificationError(
            f"consistency proof from size {first} to {second} leads to new root {sr.hex()},"
            f" expected {new_root.hex()}"
        )


def _consistency_roots(
    first: int, second: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 1-7 of RFC 9162 2.1.4.2 for ``0 < first < second``: return (fr, sr)."""
    # Step 1.
    if not proof:
        raise VerificationError(f"consistency proof from size {first} to {second} is empty")
    # Step 2.
    path = [old_root, *proof] if first & (first - 1) == 0 else proof
    # Steps 3-4.
    fn = first - 1
    sn = second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    new_node = _NODE_HASHER.copy
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(
                f"consistency proof from size {first} to {second} is too long: {len(proof)} hashes"
            )
        h = new_node()
        if fn & 1 or fn == sn:
            g = new_node()
            g.update(c + fr)
            fr = g.digest()
            h.update(c + sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            h.update(sr + c)
        sr = h.digest()
        fn >>= 1
        sn >>= 1
    # Step 7 (the root comparisons are the caller's).
    if sn != 0:
        raise VerificationError(
            f"consistency proof from size {first} to {second} is too short: {len(proof)} hashes"
        )
    return fr, sr
