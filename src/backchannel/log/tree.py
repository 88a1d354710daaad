"""The production Merkle tree: compact ranges, proofs from stored nodes, an in-memory tree.

The RFC 9162 tree of ``n`` leaves is described here by its *perfect subtree*
nodes only. A :data:`NodeId` ``(level, index)`` names the perfect subtree
covering leaves ``[index << level, (index + 1) << level)``; level 0 nodes are
the leaf hashes. A store persists exactly these nodes (every one of them is
final the moment it is complete, so nothing is ever rewritten), and every root
and proof of every tree size is computed from O(log n) of them:

- :func:`perfect_subtrees` decomposes ``[0, size)`` into perfect subtrees.
- :class:`CompactRange` (the "frontier") holds the hashes of that
  decomposition, O(log n) memory, appends leaves and reports every node each
  append completed, which is what a store writes.
- :class:`NodeSource` is what a store implements (one batched lookup);
  :func:`root_at`, :func:`inclusion_proof_at` and :func:`consistency_proof_at`
  compute RFC 9162 roots and proofs for any tree size from one ``get_nodes``
  call each. A proof node that is not a perfect subtree (the right edge of a
  smaller tree) is folded from its perfect decomposition.
- :class:`MemoryTree` holds a whole tree compactly (one :class:`bytearray`
  per level, 32 bytes per perfect node) for benchmarks and simulations
  that need a whole tree at hand.

Every result equals the reference definitions in :mod:`backchannel.log.merkle`
byte for byte. Bad arguments raise :class:`ValueError` (a size that is
negative, too large or inconsistent, a hash that is not 32 bytes),
:class:`IndexError` (a leaf index outside the tree) or :class:`TypeError` (a
hash that is not :class:`bytes`); a :class:`NodeSource` raises whatever it
raises for a node it does not hold.

This module is pure (no I/O, no clock, no randomness). It does not verify
proofs (see :func:`backchannel.log.merkle.verify_inclusion` and
:func:`backchannel.log.merkle.verify_consistency`) nor persist anything.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CompactRange",
    "MemoryTree",
    "NodeId",
    "NodeSource",
    "consistency_proof_at",
    "inclusion_proof_at",
    "perfect_subtrees",
    "root_at",
]

NodeId: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

_sha256 = hashlib.sha256
_ONE = b"\x01"
_HASH_SIZE = 32
_EMPTY_ROOT = _sha256(b"").digest()
_MAX_LEVELS = 64
_EDGE_CACHE_SIZE = 4096


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != _HASH_SIZE:
        raise ValueError(f"{what} must be {_HASH_SIZE} bytes, not {len(value)}")
    return value


def _check_size(size: int, what: str = "size") -> None:
    if size < 0:
        raise ValueError(f"{what} must not be negative, got {size}")


def _range_nodes(begin: int, end: int) -> list[NodeId]:
    """Decompose ``[begin, end)`` into perfect subtrees, left to right.

    ``begin`` must be a multiple of a power of two larger than ``end - begin``
    (true for 0 and for every right edge met in a proof), so the decomposition
    follows the set bits of ``end - begin`` from the highest.
    """
    out: list[NodeId] = []
    n = end - begin
    level = n.bit_length()
    while level:
        level -= 1
        if n >> level & 1:
            out.append((level, begin >> level))
            begin += 1 << level
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash a left-to-right perfect decomposition into the subtree it covers."""
    sha = _sha256
    one = _ONE
    r = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        r = sha(one + hashes[i] + r).digest()
    return r


def perfect_subtrees(size: int) -> list[NodeId]:
    """Decompose the tree of ``size`` leaves into its perfect subtrees.

    Args:
        size: The number of leaves, ``>= 0``.

    Returns:
        One :data:`NodeId` per set bit of ``size``, left to right (largest
        first); empty for ``size == 0``.

    Raises:
        ValueError: ``size`` is negative.

    Example:
        >>> perfect_subtrees(13)
        [(3, 0), (2, 2), (0, 12)]
    """
    _check_size(size)
    return _range_nodes(0, size)


def _proof_plan(level: int, index: int, size: int) -> tuple[list[NodeId], int, int]:
    """Plan the RFC 9162 audit path of node ``(level, index)`` in the tree of ``size``.

    The node must lie wholly inside ``[0, size)``. Returns the ids to fetch in
    proof order and ``(start, count)`` of the run of ids that must be folded
    into one hash (the sibling on the tree's right edge, which need not be a
    perfect subtree); ``count`` is 0 when there is no such sibling.

    Above the node, the path to it and the path to the last leaf share their
    nodes from ``inner`` levels up: below that, every sibling is a perfect
    subtree; at ``inner - 1`` the sibling is the right edge ``[begin, size)``;
    above, the siblings are the perfect left subtrees where the node's path
    turns right.
    """
    inner = (index ^ ((size - 1) >> level)).bit_length()
    ids: list[NodeId] = [(level + j, (index >> j) ^ 1) for j in range(inner - 1)]
    start = len(ids)
    count = 0
    if inner:
        edge = level + inner - 1
        edge_nodes = _range_nodes(((index >> (inner - 1)) + 1) << edge, size)
        ids += edge_nodes
        count = len(edge_nodes)
    x = index >> inner
    lv = level + inner
    while x:
        if x & 1:
            ids.append((lv, x - 1))
        x >>= 1
        lv += 1
    return ids, start, count


_ONLY_BYTES = frozenset({bytes})
_ONLY_HASH_SIZE = frozenset({_HASH_SIZE})


def _fetch(source: NodeSource, ids: Sequence[NodeId]) -> list[bytes]:
    hashes = list(source.get_nodes(ids))
    if len(hashes) != len(ids):
        raise ValueError(f"node source returned {len(hashes)} hashes for {len(ids)} nodes")
    # Fast path (C loops); the slow one names the first bad hash.
    if not (_ONLY_BYTES.issuperset(map(type, hashes)) and _ONLY_HASH_SIZE.issuperset(map(len, hashes))):
        for node, h in zip(ids, hashes, strict=True):
            _check_hash(h, f"node {node}")
    return hashes


def _assemble(hashes: list[bytes], start: int, count: int) -> list[bytes]:
    if count > 1:
        hashes[start : start + count] = [_fold(hashes[start : start + count])]
    return hashes


def root_at(source: NodeSource, size: int) -> bytes:
    """Compute the RFC 9162 root of the first ``size`` leaves from stored nodes.

    Fetches the ``popcount(size)`` nodes of :func:`perfect_subtrees` in one
    :meth:`NodeSource.get_nodes` call and folds them.

    Args:
        source: Where the perfect-subtree node hashes are.
        size: The tree size, ``>= 0``.

    Returns:
        The 32-byte root; SHA-256 of the empty string for ``size == 0``.

    Raises:
        ValueError: ``size`` is negative, or the source returned the wrong
            number of hashes or a hash that is not 32 bytes.
        TypeError: the source returned a hash that is not :class:`bytes`.
    """
    _check_size(size)
    if size == 0:
        return _EMPTY_ROOT
    return _fold(_fetch(source, perfect_subtrees(size)))


def inclusion_proof_at(source: NodeSource, index: int, size: int) -> list[bytes]:
    """Compute the RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``.

    Fetches O(log size) nodes in one :meth:`NodeSource.get_nodes` call.

    Args:
        source: Where the perfect-subtree node hashes are.
        index: The 0-based leaf index, ``0 <= index < size``.
        size: The tree size.

    Returns:
        The audit path, equal to :func:`backchannel.log.merkle.inclusion_proof`.

    Raises:
        ValueError: ``size`` is negative, or the source returned the wrong
            number of hashes or a hash that is not 32 bytes.
        IndexError: ``index`` is not in ``[0, size)``.
        TypeError: the source returned a hash that is not :class:`bytes`.
    """
    _check_size(size)
    if not 0 <= index < size:
        raise IndexError(f"leaf index {index} is outside the tree of size {size}")
    ids, start, count = _proof_plan(0, index, size)
    if not ids:
        return []
    return _assemble(_fetch(source, ids), start, count)


def _consistency_plan(old_size: int, new_size: int) -> tuple[list[NodeId], int, int]:
    # The largest perfect subtree ending at old_size, then its audit path in the
    # new tree; the subtree itself is left out when it is the whole old tree.
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    ids, start, count = _proof_plan(level, index, new_size)
    if index:
        return [(level, index), *ids], start + 1, count
    return ids, start, count


def consistency_proof_at(source: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """Compute the RFC 9162 consistency proof between two sizes from stored nodes.

    Fetches O(log new_size) nodes in one :meth:`NodeSource.get_nodes` call.

    Args:
        source: Where the perfect-subtree node hashes are.
        old_size: The older size, ``0 <= old_size <= new_size``.
        new_size: The newer size.

    Returns:
        The proof, equal to :func:`backchannel.log.merkle.consistency_proof`;
        empty when ``old_size`` is 0 or equals ``new_size``.

    Raises:
        ValueError: a size is negative, ``old_size > new_size``, or the source
            returned the wrong number of hashes or a hash that is not 32 bytes.
        TypeError: the source returned a hash that is not :class:`bytes`.
    """
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in {0, new_size}:
        return []
    ids, start, count = _consistency_plan(old_size, new_size)
    return _assemble(_fetch(source, ids), start, count)


class NodeSource(Protocol):
    """Anything that can look up perfect-subtree node hashes by :data:`NodeId`."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        """Return the hashes of the given nodes, in the order asked, in one lookup.

        Args:
            ids: The nodes wanted.

        Returns:
            One 32-byte hash per id.
        """


class CompactRange:
    """The frontier of a tree: the hashes of its :func:`perfect_subtrees`.

    O(log n) memory. Enough to append leaves and compute the current root, and
    to report every node each append completes, which is what a store persists.

    Args:
        size: The number of leaves already in the tree.
        hashes: The hashes of ``perfect_subtrees(size)``, left to right.

    Raises:
        ValueError: ``size`` is negative, the number of hashes is not the
            number of set bits of ``size``, or a hash is not 32 bytes.
        TypeError: a hash is not :class:`bytes`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Create a compact range from a size and its perfect-subtree hashes."""
        _check_size(size)
        hashes = list(hashes)
        expected = size.bit_count()
        if len(hashes) != expected:
            raise ValueError(f"a compact range of size {size} needs {expected} hashes, got {len(hashes)}")
        for node, h in zip(_range_nodes(0, size), hashes, strict=True):
            _check_hash(h, f"hash of node {node}")
        self._size = size
        self._hashes: list[bytes] = hashes

    @property
    def size(self) -> int:
        """The number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The hashes of ``perfect_subtrees(size)``, left to right."""
        return tuple(self._hashes)

    def __repr__(self) -> str:
        """Show the size and the number of frontier hashes."""
        return f"CompactRange(size={self._size}, hashes=<{len(self._hashes)} hashes>)"

    def append(self, leaf_hash: bytes) -> list[tuple[NodeId, bytes]]:
        """Append one leaf hash.

        Args:
            leaf_hash: The 32-byte leaf hash (see
                :func:`backchannel.log.merkle.leaf_hash`).

        Returns:
            Every perfect-subtree node this append completed, bottom up: the
            leaf itself as ``((0, index), leaf_hash)``, then each parent it
            completed. Over appends of leaves ``0..n-1`` these are exactly the
            perfect-subtree nodes of the tree of ``n`` leaves, each once.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes.
            TypeError: ``leaf_hash`` is not :class:`bytes`.
        """
        h = _check_hash(leaf_hash, "leaf hash")
        index = self._size
        done: list[tuple[NodeId, bytes]] = [((0, index), h)]
        hashes = self._hashes
        sha = _sha256
        one = _ONE
        level = 0
        i = index
        while i & 1:
            h = sha(one + hashes.pop() + h).digest()
            level += 1
            i >>= 1
            done.append(((level, i), h))
        hashes.append(h)
        self._size = index + 1
        return done

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[NodeId, bytes]]:
        """Append leaf hashes in order.

        Args:
            leaf_hashes: The 32-byte leaf hashes.

        Returns:
            The concatenation of what :meth:`append` returned for each.

        Raises:
            ValueError: a leaf hash is not 32 bytes (the leaves before it stay
                appended).
            TypeError: a leaf hash is not :class:`bytes` (likewise).
        """
        done: list[tuple[NodeId, bytes]] = []
        for h in leaf_hashes:
            done += self.append(h)
        return done

    def root(self) -> bytes:
        """The RFC 9162 root of the covered leaves, in O(log n).

        Returns:
            The 32-byte root; SHA-256 of the empty string when empty.
        """
        if not self._hashes:
            return _EMPTY_ROOT
        return _fold(self._hashes)

    def copy(self) -> CompactRange:
        """Return an independent copy (appends to one do not affect the other)."""
        return CompactRange(self._size, self._hashes)


class MemoryTree(NodeSource):
    """A whole tree in memory: every perfect-subtree node, 32 bytes each.

    One :class:`bytearray` per level holds nodes ``(level, 0..)`` back to back,
    about 64 bytes per leaf in all, next to a :class:`CompactRange` for the
    current root. Roots and proofs for any size up to the current one cost
    O(log n).

    Args:
        leaf_hashes: Leaf hashes to start with.

    Raises:
        ValueError: a leaf hash is not 32 bytes.
        TypeError: a leaf hash is not :class:`bytes`.
    """

    __slots__ = ("_edges", "_levels", "_range")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Create a tree, optionally with initial leaves."""
        self._levels: list[bytearray] = [bytearray() for _ in range(_MAX_LEVELS)]
        self._range = CompactRange()
        # (begin, end) -> hash of the non-perfect subtree [begin, end): nodes
        # never change once written, so entries stay valid as the tree grows.
        self._edges: dict[tuple[int, int], bytes] = {}
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._range.size

    def __repr__(self) -> str:
        """Show the size."""
        return f"MemoryTree(size={self._range.size})"

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash.

        Args:
            leaf_hash: The 32-byte leaf hash.

        Returns:
            The new leaf's 0-based index.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes.
            TypeError: ``leaf_hash`` is not :class:`bytes`.
        """
        levels = self._levels
        for (level, _), h in self._range.append(leaf_hash):
            levels[level] += h
        return self._range.size - 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes in order.

        Args:
            leaf_hashes: The 32-byte leaf hashes.

        Raises:
            ValueError: a leaf hash is not 32 bytes (the leaves before it stay
                appended).
            TypeError: a leaf hash is not :class:`bytes` (likewise).
        """
        levels = self._levels
        append = self._range.append
        for leaf in leaf_hashes:
            for (level, _), h in append(leaf):
                levels[level] += h

    def compact_range(self) -> CompactRange:
        """Return a copy of the frontier (what the next append builds on)."""
        return self._range.copy()

    def _resolve(self, size: int | None, what: str = "size") -> int:
        n = self._range.size
        if size is None:
            return n
        _check_size(size, what)
        if size > n:
            raise ValueError(f"{what} {size} is larger than the tree ({n} leaves)")
        return size

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hashes of perfect-subtree nodes, in the order asked.

        Args:
            ids: The nodes wanted.

        Returns:
            One 32-byte hash per id.

        Raises:
            KeyError: a node is not (yet) in the tree.
        """
        levels = self._levels
        out: list[bytes] = []
        for level, index in ids:
            off = index << 5
            if not 0 <= level < _MAX_LEVELS or index < 0 or off + 32 > len(levels[level]):
                raise KeyError(f"node {(level, index)} is not in the tree of size {self._range.size}")
            out.append(bytes(levels[level][off : off + 32]))
        return out

    def _edge(self, begin: int, end: int) -> bytes:
        """The hash of ``[begin, end)`` folded from its perfect decomposition, memoised."""
        edges = self._edges
        key = (begin, end)
        h = edges.get(key)
        if h is None:
            if len(edges) >= _EDGE_CACHE_SIZE:
                edges.clear()
            levels = self._levels
            h = edges[key] = _fold(
                [bytes(levels[lv][ix << 5 : (ix << 5) + 32]) for lv, ix in _range_nodes(begin, end)]
            )
        return h

    def root(self, size: int | None = None) -> bytes:
        """The RFC 9162 root of the first ``size`` leaves (default: all).

        Args:
            size: The tree size, ``0 <= size <= self.size``.

        Returns:
            The 32-byte root.

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
        """
        n = self._resolve(size)
        if n == self._range.size:
            return self._range.root()
        if n == 0:
            return _EMPTY_ROOT
        return self._edge(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

        Args:
            index: The 0-based leaf index, ``0 <= index < size``.
            size: The tree size (default: all leaves), at most ``self.size``.

        Returns:
            The audit path, equal to :func:`backchannel.log.merkle.inclusion_proof`.

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
            IndexError: ``index`` is not in ``[0, size)``.
        """
        n = self._resolve(size)
        if not 0 <= index < n:
            raise IndexError(f"leaf index {index} is outside the tree of size {n}")
        levels = self._levels
        proof: list[bytes] = []
        add = proof.append
        inner = (index ^ (n - 1)).bit_length()
        # Perfect siblings below the right edge.
        i = index
        for level in range(inner - 1):
            off = (i ^ 1) << 5
            add(bytes(levels[level][off : off + 32]))
            i >>= 1
        # The sibling on the right edge: perfect, or folded from its decomposition.
        if inner:
            level = inner - 1
            begin = (i + 1) << level
            if n - begin == 1 << level:
                off = (i + 1) << 5
                add(bytes(levels[level][off : off + 32]))
            else:
                add(self._edge(begin, n))
            i >>= 1
        # Perfect left siblings where the path turns right.
        level = inner
        while i:
            if i & 1:
                off = (i - 1) << 5
                add(bytes(levels[level][off : off + 32]))
            i >>= 1
            level += 1
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes of this tree.

        Args:
            old_size: The older size, ``0 <= old_size <= new_size``.
            new_size: The newer size (default: all leaves), at most ``self.size``.

        Returns:
            The proof, equal to :func:`backchannel.log.merkle.consistency_proof`.

        Raises:
            ValueError: a size is negative, ``new_size`` is larger than the
                tree, or ``old_size > new_size``.
        """
        n = self._resolve(new_size, "new size")
        return consistency_proof_at(self, old_size, n)
