"""Tests for backchannel.log.tree: perfect subtrees, CompactRange, proofs from nodes, MemoryTree."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from backchannel.log import merkle, tree
from backchannel.log.tree import CompactRange, MemoryTree, NodeId

VECTORS = Path(__file__).parents[2] / "vectors" / "rfc6962"
CT = json.loads((VECTORS / "certificate-transparency.json").read_text())
TD = json.loads((VECTORS / "transparency-dev-merkle.json").read_text())

LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in CT["inputs"]]
ROOTS = [bytes.fromhex(x) for x in CT["roots"]]
NODES = {
    (level, index): bytes.fromhex(h)
    for level, row in enumerate(TD["node_hashes"])
    for index, h in enumerate(row)
}
EMPTY = ROOTS[0]


def many_leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


class RecordingSource:
    """A NodeSource over a dict that records every lookup."""

    def __init__(self, nodes: dict[NodeId, bytes]) -> None:
        self.nodes = nodes
        self.calls: list[list[NodeId]] = []

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        self.calls.append(list(ids))
        return [self.nodes[i] for i in ids]


def all_nodes(leaves: Sequence[bytes]) -> dict[NodeId, bytes]:
    return dict(CompactRange().extend(leaves))


# --------------------------------------------------------------------------
# perfect_subtrees
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [(0, 0)]),
        (2, [(1, 0)]),
        (3, [(1, 0), (0, 2)]),
        (7, [(2, 0), (1, 2), (0, 6)]),
        (8, [(3, 0)]),
        (13, [(3, 0), (2, 2), (0, 12)]),
        (2**40 + 5, [(40, 0), (2, 2**38), (0, 2**40 + 4)]),
    ],
)
def test_perfect_subtrees(size: int, expected: list[NodeId]) -> None:
    assert tree.perfect_subtrees(size) == expected


def test_perfect_subtrees_cover_the_range_in_order() -> None:
    for size in range(300):
        start = 0
        for level, index in tree.perfect_subtrees(size):
            assert index << level == start
            start += 1 << level
        assert start == size
        assert len(tree.perfect_subtrees(size)) == size.bit_count()


def test_perfect_subtrees_negative() -> None:
    with pytest.raises(ValueError, match="size must not be negative, got -1"):
        tree.perfect_subtrees(-1)


# --------------------------------------------------------------------------
# CompactRange
# --------------------------------------------------------------------------


def test_compact_range_vectors() -> None:
    cr = CompactRange()
    assert cr.size == 0
    assert cr.hashes == ()
    assert cr.root() == EMPTY
    seen: dict[NodeId, bytes] = {}
    for i, leaf in enumerate(LEAVES):
        done = cr.append(leaf)
        assert done[0] == ((0, i), leaf)
        for node, h in done:
            assert node not in seen
            assert NODES[node] == h
            seen[node] = h
        assert cr.size == i + 1
        assert cr.root() == ROOTS[i + 1]
        assert cr.hashes == tuple(NODES[n] for n in tree.perfect_subtrees(i + 1))
    assert seen == NODES


def test_compact_range_append_returns_completed_nodes_bottom_up() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:7])
    done = cr.append(LEAVES[7])
    assert [node for node, _ in done] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert cr.hashes == (ROOTS[8],)


def test_compact_range_extend_is_concatenated_appends() -> None:
    a, b = CompactRange(), CompactRange()
    expected = [node for leaf in LEAVES for node in a.append(leaf)]
    assert b.extend(iter(LEAVES)) == expected
    assert b.hashes == a.hashes
    assert b.extend([]) == []


def test_compact_range_from_stored_hashes_continues() -> None:
    for size in range(9):
        cr = CompactRange(size, [NODES[n] for n in tree.perfect_subtrees(size)])
        assert cr.root() == ROOTS[size]
        cr.extend(LEAVES[size:])
        assert cr.root() == ROOTS[8]


def test_compact_range_copy_is_independent() -> None:
    a = CompactRange()
    a.extend(LEAVES[:3])
    b = a.copy()
    assert (b.size, b.hashes) == (a.size, a.hashes)
    b.append(LEAVES[3])
    assert a.size == 3
    assert a.root() == ROOTS[3]
    assert b.root() == ROOTS[4]
    a.append(LEAVES[3])
    a.append(LEAVES[4])
    assert b.size == 4


def test_compact_range_hashes_is_a_snapshot() -> None:
    cr = CompactRange(1, [LEAVES[0]])
    snapshot = cr.hashes
    cr.append(LEAVES[1])
    assert snapshot == (LEAVES[0],)
    source = [LEAVES[0]]
    cr = CompactRange(1, source)
    source.append(LEAVES[1])
    assert cr.hashes == (LEAVES[0],)


def test_compact_range_repr() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:7])
    assert repr(cr) == "CompactRange(size=7, hashes=<3 hashes>)"


@pytest.mark.parametrize(
    ("size", "hashes", "error", "message"),
    [
        (-1, [], ValueError, "size must not be negative, got -1"),
        (3, [LEAVES[0]], ValueError, "a compact range of size 3 needs 2 hashes, got 1"),
        (0, [LEAVES[0]], ValueError, "a compact range of size 0 needs 0 hashes, got 1"),
        (1, [b"x" * 31], ValueError, r"hash of node \(0, 0\) must be 32 bytes, not 31"),
        (3, [LEAVES[0], "ab" * 32], TypeError, r"hash of node \(0, 2\) must be bytes, not str"),
    ],
)
def test_compact_range_validation(
    size: int, hashes: list[bytes], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        CompactRange(size, hashes)


def test_compact_range_append_rejects_bad_leaves_and_keeps_state() -> None:
    cr = CompactRange()
    cr.append(LEAVES[0])
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes, not 33"):
        cr.append(LEAVES[1] + b"\x00")
    with pytest.raises(TypeError, match="leaf hash must be bytes, not bytearray"):
        cr.append(bytearray(LEAVES[1]))  # type: ignore[arg-type]
    assert cr.size == 1
    assert cr.hashes == (LEAVES[0],)
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes"):
        cr.extend([LEAVES[1], b""])
    assert cr.size == 2
    assert cr.root() == ROOTS[2]


# --------------------------------------------------------------------------
# *_at over a NodeSource
# --------------------------------------------------------------------------


def test_at_functions_match_vectors_with_one_lookup_each() -> None:
    source = RecordingSource(NODES)
    for size in range(9):
        source.calls.clear()
        assert tree.root_at(source, size) == ROOTS[size]
        assert len(source.calls) == (1 if size else 0)
        for index in range(size):
            source.calls.clear()
            proof = tree.inclusion_proof_at(source, index, size)
            assert proof == merkle.inclusion_proof(LEAVES[:size], index)
            assert len(source.calls) == (1 if size > 1 else 0)
        for old in range(size + 1):
            source.calls.clear()
            proof = tree.consistency_proof_at(source, old, size)
            assert proof == merkle.consistency_proof(LEAVES[:size], old)
            assert len(source.calls) == (1 if 0 < old < size else 0)


def test_at_functions_fetch_logarithmically_many_nodes() -> None:
    leaves = many_leaves(1000)
    source = RecordingSource(all_nodes(leaves))
    for size in (1, 2, 3, 511, 512, 513, 999, 1000):
        for index in {0, size // 2, size - 1}:
            source.calls.clear()
            assert tree.inclusion_proof_at(source, index, size) == merkle.inclusion_proof(
                leaves[:size], index
            )
            assert sum(len(c) for c in source.calls) <= 2 * size.bit_length()
        for old in {1, size // 2, size - 1}:
            source.calls.clear()
            assert tree.consistency_proof_at(source, old, size) == merkle.consistency_proof(
                leaves[:size], old
            )
            assert sum(len(c) for c in source.calls) <= 2 * size.bit_length() + 1


def test_at_functions_fetch_only_perfect_nodes_inside_the_tree() -> None:
    leaves = many_leaves(100)
    nodes = all_nodes(leaves)
    for size in range(1, 101):
        visible = {(lv, ix): h for (lv, ix), h in nodes.items() if (ix + 1) << lv <= size}
        source = RecordingSource(visible)
        assert tree.root_at(source, size) == merkle.root(leaves[:size])
        for index in range(0, size, 7):
            assert tree.inclusion_proof_at(source, index, size) == merkle.inclusion_proof(
                leaves[:size], index
            )
        for old in range(0, size + 1, 5):
            assert tree.consistency_proof_at(source, old, size) == merkle.consistency_proof(
                leaves[:size], old
            )


def test_at_functions_argument_errors() -> None:
    source = RecordingSource(NODES)
    with pytest.raises(ValueError, match="size must not be negative, got -1"):
        tree.root_at(source, -1)
    with pytest.raises(ValueError, match="size must not be negative, got -2"):
        tree.inclusion_proof_at(source, 0, -2)
    with pytest.raises(IndexError, match="leaf index 8 is outside the tree of size 8"):
        tree.inclusion_proof_at(source, 8, 8)
    with pytest.raises(IndexError, match="leaf index -1 is outside the tree of size 8"):
        tree.inclusion_proof_at(source, -1, 8)
    with pytest.raises(IndexError, match="leaf index 0 is outside the tree of size 0"):
        tree.inclusion_proof_at(source, 0, 0)
    with pytest.raises(ValueError, match="old size must not be negative, got -1"):
        tree.consistency_proof_at(source, -1, 8)
    with pytest.raises(ValueError, match="new size must not be negative, got -1"):
        tree.consistency_proof_at(source, 0, -1)
    with pytest.raises(ValueError, match="old size 5 is larger than new size 4"):
        tree.consistency_proof_at(source, 5, 4)
    assert source.calls == []


def test_at_functions_propagate_source_errors() -> None:
    source = RecordingSource({})
    with pytest.raises(KeyError):
        tree.root_at(source, 3)
    with pytest.raises(KeyError):
        tree.inclusion_proof_at(source, 0, 3)
    with pytest.raises(KeyError):
        tree.consistency_proof_at(source, 1, 3)


class BadSource:
    def __init__(self, answer: list[object]) -> None:
        self.answer = answer

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]:
        return self.answer  # type: ignore[return-value]


def test_at_functions_check_what_the_source_returns() -> None:
    with pytest.raises(ValueError, match="node source returned 1 hashes for 2 nodes"):
        tree.root_at(BadSource([ROOTS[2]]), 3)
    with pytest.raises(TypeError, match=r"node \(0, 2\) must be bytes, not str"):
        tree.root_at(BadSource([ROOTS[2], "x"]), 3)
    with pytest.raises(ValueError, match=r"node \(1, 0\) must be 32 bytes, not 3"):
        tree.inclusion_proof_at(BadSource([b"abc"]), 2, 3)


class Digest(bytes):
    """A bytes subclass: accepted by the slow path of the check."""


def test_at_functions_accept_bytes_subclasses_from_the_source() -> None:
    source = BadSource([Digest(NODES[(1, 0)]), Digest(NODES[(0, 2)])])
    assert tree.root_at(source, 3) == ROOTS[3]


# --------------------------------------------------------------------------
# MemoryTree
# --------------------------------------------------------------------------


def test_memory_tree_vectors() -> None:
    mt = MemoryTree()
    assert mt.size == 0
    assert mt.root() == EMPTY
    for i, leaf in enumerate(LEAVES):
        assert mt.append(leaf) == i
        assert mt.root() == ROOTS[i + 1]
    assert mt.size == 8
    assert repr(mt) == "MemoryTree(size=8)"
    for size in range(9):
        assert mt.root(size) == ROOTS[size]
    for v in CT["paths"]:
        if v["leaf"]:
            assert [p.hex() for p in mt.inclusion_proof(v["leaf"] - 1, v["snapshot"])] == v["path"]
    for v in CT["proofs"]:
        assert [p.hex() for p in mt.consistency_proof(v["snapshot1"], v["snapshot2"])] == v["proof"]
    for v in TD["consistency_proofs"]:
        assert [p.hex() for p in mt.consistency_proof(v["size1"], v["size2"])] == v["proof"]
    assert mt.get_nodes(list(NODES)) == list(NODES.values())


def test_memory_tree_defaults_to_the_whole_tree() -> None:
    leaves = many_leaves(37)
    mt = MemoryTree(leaves)
    assert mt.size == 37
    assert mt.root() == mt.root(37) == merkle.root(leaves)
    assert mt.inclusion_proof(5) == mt.inclusion_proof(5, 37) == merkle.inclusion_proof(leaves, 5)
    assert mt.consistency_proof(20) == mt.consistency_proof(20, 37) == merkle.consistency_proof(leaves, 20)


def test_memory_tree_matches_reference_for_every_size() -> None:
    leaves = many_leaves(70)
    mt = MemoryTree()
    mt.extend(leaves)
    for size in range(71):
        assert mt.root(size) == merkle.root(leaves[:size])
        for index in range(size):
            assert mt.inclusion_proof(index, size) == merkle.inclusion_proof(leaves[:size], index)
        for old in range(size + 1):
            assert mt.consistency_proof(old, size) == merkle.consistency_proof(leaves[:size], old)


def test_memory_tree_is_a_node_source() -> None:
    leaves = many_leaves(21)
    mt = MemoryTree(leaves)
    source: tree.NodeSource = mt
    assert tree.root_at(source, 13) == mt.root(13)
    assert tree.inclusion_proof_at(source, 4, 13) == mt.inclusion_proof(4, 13)
    assert tree.consistency_proof_at(source, 6, 13) == mt.consistency_proof(6, 13)
    assert mt.get_nodes([]) == []
    assert mt.get_nodes([(4, 0), (0, 20)]) == [merkle.root(leaves[:16]), leaves[20]]
    assert all(type(h) is bytes for h in mt.get_nodes([(0, 0), (2, 1)]))


@pytest.mark.parametrize("node", [(0, 21), (2, 5), (5, 0), (-1, 0), (0, -1), (64, 0), (1000, 0)])
def test_memory_tree_get_nodes_unknown(node: NodeId) -> None:
    mt = MemoryTree(many_leaves(21))
    with pytest.raises(KeyError, match="is not in the tree of size 21"):
        mt.get_nodes([(0, 0), node])


def test_memory_tree_compact_range_is_a_copy() -> None:
    mt = MemoryTree(LEAVES[:5])
    cr = mt.compact_range()
    assert (cr.size, cr.root()) == (5, ROOTS[5])
    cr.append(LEAVES[5])
    assert mt.size == 5
    mt.append(LEAVES[5])
    assert mt.compact_range().hashes == cr.hashes


def test_memory_tree_frontier_rebuilt_from_nodes() -> None:
    leaves = many_leaves(50)
    mt = MemoryTree(leaves)
    for size in range(51):
        cr = CompactRange(size, mt.get_nodes(tree.perfect_subtrees(size)))
        assert cr.root() == mt.root(size)
        cr.extend(leaves[size:])
        assert cr.hashes == mt.compact_range().hashes


def test_memory_tree_argument_errors() -> None:
    mt = MemoryTree(LEAVES)
    with pytest.raises(ValueError, match="size must not be negative, got -1"):
        mt.root(-1)
    with pytest.raises(ValueError, match=r"size 9 is larger than the tree \(8 leaves\)"):
        mt.root(9)
    with pytest.raises(ValueError, match="size 9 is larger than the tree"):
        mt.inclusion_proof(0, 9)
    with pytest.raises(IndexError, match="leaf index 8 is outside the tree of size 8"):
        mt.inclusion_proof(8)
    with pytest.raises(IndexError, match="leaf index 3 is outside the tree of size 3"):
        mt.inclusion_proof(3, 3)
    with pytest.raises(IndexError, match="leaf index -1 is outside the tree of size 8"):
        mt.inclusion_proof(-1)
    with pytest.raises(ValueError, match=r"new size 10 is larger than the tree \(8 leaves\)"):
        mt.consistency_proof(1, 10)
    with pytest.raises(ValueError, match="new size must not be negative"):
        mt.consistency_proof(0, -1)
    with pytest.raises(ValueError, match="old size 5 is larger than new size 4"):
        mt.consistency_proof(5, 4)
    with pytest.raises(ValueError, match="old size 9 is larger than new size 8"):
        mt.consistency_proof(9)
    with pytest.raises(IndexError):
        MemoryTree().inclusion_proof(0)


def test_memory_tree_rejects_bad_leaves_and_keeps_state() -> None:
    mt = MemoryTree(LEAVES[:3])
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes, not 4"):
        mt.append(b"leaf")
    with pytest.raises(TypeError, match="leaf hash must be bytes, not str"):
        mt.extend([LEAVES[3], "leaf"])  # type: ignore[list-item]
    assert mt.size == 4
    assert mt.root() == ROOTS[4]
    assert mt.get_nodes([(2, 0)]) == [ROOTS[4]]
    with pytest.raises(TypeError):
        MemoryTree([None])  # type: ignore[list-item]


def test_memory_tree_edge_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree, "_EDGE_CACHE_SIZE", 3)
    leaves = many_leaves(200)
    mt = MemoryTree(leaves)
    for size in range(1, 201):
        assert mt.root(size) == merkle.root(leaves[:size])
        assert mt.inclusion_proof(0, size) == merkle.inclusion_proof(leaves[:size], 0)
    # Cached entries stay valid as the tree grows.
    mt.extend(many_leaves(300)[200:])
    for size in range(190, 200):
        assert mt.root(size) == merkle.root(leaves[:size])


def test_all_is_the_public_api() -> None:
    assert sorted(tree.__all__) == [
        "CompactRange",
        "MemoryTree",
        "NodeId",
        "NodeSource",
        "consistency_proof_at",
        "inclusion_proof_at",
        "perfect_subtrees",
        "root_at",
    ]
