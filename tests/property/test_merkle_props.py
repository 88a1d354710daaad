"""Property tests: proofs verify, tampering fails, the incremental tree equals the reference."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.errors import VerificationError
from backchannel.log import merkle, tree
from backchannel.log.tree import CompactRange, MemoryTree, NodeId

SETTINGS = settings(max_examples=40, deadline=None)
EMPTY = merkle.root([])

sizes = st.integers(min_value=1, max_value=300)
seeds = st.binary(max_size=8)


def make_leaves(seed: bytes, n: int) -> list[bytes]:
    """``n`` distinct leaf hashes (distinct data: the seed then a 4-byte counter)."""
    return [merkle.leaf_hash(seed + i.to_bytes(4, "big")) for i in range(n)]


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


Tree = tuple[bytes, list[bytes], MemoryTree]


@st.composite
def trees(draw: st.DrawFn, max_size: int = 300) -> Tree:
    """(seed, leaves, tree): ``make_leaves(seed, m)`` extends ``leaves`` for any ``m``."""
    n = draw(st.integers(min_value=1, max_value=max_size))
    seed = draw(seeds)
    leaves = make_leaves(seed, n)
    return seed, leaves, MemoryTree(leaves)


def rejects_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    except VerificationError:
        return True
    return False


def rejects_consistency(old: int, new: int, r1: bytes, r2: bytes, proof: Sequence[bytes]) -> bool:
    try:
        merkle.verify_consistency(old, new, r1, r2, proof)
    except VerificationError:
        return True
    return False


# --------------------------------------------------------------------------
# Completeness: honest proofs verify
# --------------------------------------------------------------------------


@SETTINGS
@given(trees())
def test_every_inclusion_proof_verifies(t: Tree) -> None:
    _, leaves, mt = t
    n = len(leaves)
    root = mt.root()
    assert root == merkle.root(leaves)
    for i in range(n):
        merkle.verify_inclusion(leaves[i], i, n, mt.inclusion_proof(i), root)


@SETTINGS
@given(trees(), st.data())
def test_every_consistency_proof_verifies(t: Tree, data: st.DataObject) -> None:
    _, leaves, mt = t
    n = len(leaves)
    root = mt.root()
    news = range(1, n + 1) if n <= 24 else data.draw(st.lists(st.integers(1, n), min_size=1, max_size=6))
    for new in news:
        old_sizes = range(new + 1) if new <= 64 else data.draw(st.lists(st.integers(0, new), max_size=20))
        new_root = mt.root(new)
        for old in old_sizes:
            merkle.verify_consistency(old, new, mt.root(old), new_root, mt.consistency_proof(old, new))
    for old in range(0, n + 1, max(1, n // 40)):
        merkle.verify_consistency(old, n, mt.root(old), root, mt.consistency_proof(old))


# --------------------------------------------------------------------------
# Soundness: any tampering fails
# --------------------------------------------------------------------------


@SETTINGS
@given(trees(), st.data())
def test_tampered_inclusion_fails(t: Tree, data: st.DataObject) -> None:
    seed, leaves, mt = t
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = mt.inclusion_proof(i)
    root = mt.root()
    leaf = leaves[i]
    bit = data.draw(st.integers(0, 255), label="bit")
    merkle.verify_inclusion(leaf, i, n, proof, root)
    assert rejects_inclusion(flip(leaf, bit), i, n, proof, root)
    assert rejects_inclusion(leaf, i, n, proof, flip(root, bit))
    for k in range(len(proof)):
        wrong = list(proof)
        wrong[k] = flip(wrong[k], bit)
        assert rejects_inclusion(leaf, i, n, wrong, root)
    # Any other index of the same tree.
    other = data.draw(st.integers(0, n + 2).filter(lambda j: j != i), label="other index")
    assert rejects_inclusion(leaf, other, n, proof, root)
    # The proof does not verify against any other size's tree head ...
    m = data.draw(st.integers(i + 1, 2 * n + 1).filter(lambda s: s != n), label="other size")
    assert rejects_inclusion(leaf, i, m, proof, MemoryTree(make_leaves(seed, m)).root())
    # ... nor against its own head with the size doubled or halved.
    assert rejects_inclusion(leaf, i, 2 * n, proof, root)
    assert rejects_inclusion(leaf, i, n // 2, proof, root)
    # Truncated or extended proofs.
    if proof:
        assert rejects_inclusion(leaf, i, n, proof[:-1], root)
    assert rejects_inclusion(leaf, i, n, [*proof, root], root)
    assert rejects_inclusion(leaf, i, n, [root, *proof], root)


@SETTINGS
@given(trees(max_size=200), st.data())
def test_tampered_consistency_fails(t: Tree, data: st.DataObject) -> None:
    _, leaves, mt = t
    n = len(leaves)
    if n < 2:
        return
    new = data.draw(st.integers(2, n), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    r1, r2 = mt.root(old), mt.root(new)
    proof = mt.consistency_proof(old, new)
    bit = data.draw(st.integers(0, 255), label="bit")
    merkle.verify_consistency(old, new, r1, r2, proof)
    assert rejects_consistency(old, new, flip(r1, bit), r2, proof)
    assert rejects_consistency(old, new, r1, flip(r2, bit), proof)
    for k in range(len(proof)):
        wrong = list(proof)
        wrong[k] = flip(wrong[k], bit)
        assert rejects_consistency(old, new, r1, r2, wrong)
    # Other sizes, with those sizes' true roots.
    old2 = data.draw(st.integers(1, new).filter(lambda s: s != old), label="other old")
    assert rejects_consistency(old2, new, mt.root(old2), r2, proof)
    new2 = data.draw(st.integers(old, n).filter(lambda s: s != new), label="other new")
    assert rejects_consistency(old, new2, r1, mt.root(new2), proof)
    assert rejects_consistency(old, new, r2, r1, proof)
    assert rejects_consistency(old, new, r1, r2, proof[:-1])
    assert rejects_consistency(old, new, r1, r2, [*proof, r2])
    assert rejects_consistency(old, new, r1, r2, [r1, *proof])


# --------------------------------------------------------------------------
# The incremental tree equals the reference
# --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 130), seeds, st.data())
def test_incremental_equals_reference(n: int, seed: bytes, data: st.DataObject) -> None:
    leaves = make_leaves(seed, n)
    cr = CompactRange()
    mt = MemoryTree()
    for k, leaf in enumerate(leaves):
        assert cr.root() == mt.root() == merkle.root(leaves[:k])
        cr.append(leaf)
        mt.append(leaf)
    assert cr.root() == mt.root() == merkle.root(leaves) == tree.root_at(mt, n)
    for _ in range(5):
        size = data.draw(st.integers(0, n), label="size")
        prefix = leaves[:size]
        assert mt.root(size) == tree.root_at(mt, size) == merkle.root(prefix)
        if size:
            i = data.draw(st.integers(0, size - 1), label="index")
            ref = merkle.inclusion_proof(prefix, i)
            assert mt.inclusion_proof(i, size) == tree.inclusion_proof_at(mt, i, size) == ref
        old = data.draw(st.integers(0, size), label="old")
        ref = merkle.consistency_proof(prefix, old)
        assert mt.consistency_proof(old, size) == tree.consistency_proof_at(mt, old, size) == ref


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 200), seeds)
def test_appended_nodes_are_exactly_the_perfect_nodes(n: int, seed: bytes) -> None:
    leaves = make_leaves(seed, n)
    cr = CompactRange()
    returned: list[tuple[NodeId, bytes]] = []
    for leaf in leaves:
        returned += cr.append(leaf)
    ids = [node for node, _ in returned]
    assert len(ids) == len(set(ids))
    expected = {(lv, ix) for lv in range(n.bit_length()) for ix in range(n >> lv)}
    assert set(ids) == expected
    for (lv, ix), h in returned:
        assert h == merkle.root(leaves[ix << lv : (ix + 1) << lv])
    assert cr.hashes == tuple(dict(returned)[node] for node in tree.perfect_subtrees(n))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), seeds)
def test_compact_range_resumes_from_stored_nodes(n: int, more: int, seed: bytes) -> None:
    leaves = make_leaves(seed, n + more)
    stored = dict(CompactRange().extend(leaves[:n]))
    cr = CompactRange(n, [stored[node] for node in tree.perfect_subtrees(n)])
    stored.update(cr.extend(leaves[n:]))
    assert cr.root() == merkle.root(leaves)
    assert stored == dict(CompactRange().extend(leaves))


@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 257, 1000])
def test_empty_tree_prefix_is_consistent_with_every_tree(n: int) -> None:
    mt = MemoryTree(make_leaves(b"e", n))
    merkle.verify_consistency(0, n, EMPTY, mt.root(), mt.consistency_proof(0))
    assert mt.consistency_proof(0) == []
