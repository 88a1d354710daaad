"""Known-answer and error-path tests for backchannel.log.merkle (RFC 6962 / RFC 9162)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from backchannel.errors import VerificationError
from backchannel.log import merkle

VECTORS = Path(__file__).parents[2] / "vectors" / "rfc6962"
CT = json.loads((VECTORS / "certificate-transparency.json").read_text())
TD = json.loads((VECTORS / "transparency-dev-merkle.json").read_text())

INPUTS = [bytes.fromhex(x) for x in CT["inputs"]]
LEAVES = [merkle.leaf_hash(x) for x in INPUTS]
ROOTS = [bytes.fromhex(x) for x in CT["roots"]]
EMPTY = bytes.fromhex(CT["empty_tree_hash"])
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# (0-based index, tree size, path) for every published valid path.
PATHS = [
    (v["leaf"] - 1, v["snapshot"], [bytes.fromhex(h) for h in v["path"]])
    for v in CT["paths"]
    if v["leaf"] > 0
]
# (old size, new size, proof) for every published consistency proof.
PROOFS = [(v["snapshot1"], v["snapshot2"], [bytes.fromhex(h) for h in v["proof"]]) for v in CT["proofs"]] + [
    (v["size1"], v["size2"], [bytes.fromhex(h) for h in v["proof"]]) for v in TD["consistency_proofs"]
]


def flip(h: bytes, bit: int = 3) -> bytes:
    b = bytearray(h)
    b[0] ^= 1 << bit
    return bytes(b)


# --------------------------------------------------------------------------
# Vectors
# --------------------------------------------------------------------------


def test_vectors_are_complete() -> None:
    assert len(INPUTS) == 8
    assert len(ROOTS) == 9
    assert len(PATHS) == 5
    assert len(PROOFS) == 5


def test_leaf_hashes_match_published_level_zero() -> None:
    assert [h.hex() for h in LEAVES] == TD["node_hashes"][0]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert ROOTS[0] == EMPTY
    assert merkle.root([]) == EMPTY


@pytest.mark.parametrize("size", range(9))
def test_root_vectors(size: int) -> None:
    assert merkle.root(LEAVES[:size]) == ROOTS[size]


def test_published_node_hashes() -> None:
    for level, row in enumerate(TD["node_hashes"]):
        for index, expected in enumerate(row):
            width = 1 << level
            assert merkle.root(LEAVES[index * width : (index + 1) * width]).hex() == expected


def test_node_hash_is_prefixed() -> None:
    a, b = LEAVES[0], LEAVES[1]
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest() == ROOTS[2]
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


@pytest.mark.parametrize(("index", "size", "path"), PATHS)
def test_inclusion_vectors(index: int, size: int, path: list[bytes]) -> None:
    assert merkle.inclusion_proof(LEAVES[:size], index) == path
    merkle.verify_inclusion(LEAVES[index], index, size, path, ROOTS[size])
    merkle.verify_inclusion(LEAVES[index], index, size, tuple(path), ROOTS[size])


def test_published_invalid_path_sentinel() -> None:
    (sentinel,) = [v for v in CT["paths"] if v["leaf"] == 0]
    assert sentinel["snapshot"] == 0
    assert sentinel["path"] == []
    with pytest.raises(IndexError):
        merkle.inclusion_proof([], 0)
    with pytest.raises(VerificationError, match="outside the tree of size 0"):
        merkle.verify_inclusion(LEAVES[0], 0, 0, [], EMPTY)


@pytest.mark.parametrize(("old", "new", "proof"), PROOFS)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert merkle.consistency_proof(LEAVES[:new], old) == proof
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], tuple(proof))


def test_every_pair_of_the_reference_tree() -> None:
    for new in range(9):
        for index in range(new):
            proof = merkle.inclusion_proof(LEAVES[:new], index)
            merkle.verify_inclusion(LEAVES[index], index, new, proof, ROOTS[new])
        for old in range(new + 1):
            proof = merkle.consistency_proof(LEAVES[:new], old)
            merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


# --------------------------------------------------------------------------
# The corruption probes of merkle_tree_test.cc / verify_test.go
# --------------------------------------------------------------------------


def inclusion_probes(
    index: int, size: int, path: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[Any, ...]]:
    probes: list[tuple[Any, ...]] = [
        (leaf, index - 1, size, path, root),
        (leaf, index + 1, size, path, root),
        (leaf, index ^ 2, size, path, root),
        (leaf, index, size * 2, path, root),
        (leaf, index, size // 2, path, root),
        (merkle.leaf_hash(b"WrongLeaf"), index, size, path, root),
        (b"WrongLeaf", index, size, path, root),
        (leaf, index, size, path, EMPTY),
        (leaf, index, size, path, SOME_HASH),
        (leaf, index, size, [*path, b""], root),
        (leaf, index, size, [*path, root], root),
        (leaf, index, size, [b"", *path], root),
        (leaf, index, size, [root, *path], root),
    ]
    for i in range(len(path)):
        wrong = list(path)
        wrong[i] = flip(wrong[i])
        probes.append((leaf, index, size, wrong, root))
        wrong = list(path)
        wrong[i] = EMPTY
        probes.append((leaf, index, size, wrong, root))
    if path:
        probes.append((leaf, index, size, path[:-1], root))
    if len(path) > 1:
        probes.append((leaf, index, size, [path[0], SOME_HASH, *path[1:]], root))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), PATHS)
def test_inclusion_corruptions_fail(index: int, size: int, path: list[bytes]) -> None:
    for probe in inclusion_probes(index, size, path, ROOTS[size], LEAVES[index]):
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(*probe)


def consistency_probes(old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes]) -> list[tuple[Any, ...]]:
    probes: list[tuple[Any, ...]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [*proof, proof[-1]]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = flip(wrong[i], 4)
        probes.append((old, new, r1, r2, wrong))
        wrong = list(proof)
        wrong[i] = EMPTY
        probes.append((old, new, r1, r2, wrong))
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), [p for p in PROOFS if p[2]])
def test_consistency_corruptions_fail(old: int, new: int, proof: list[bytes]) -> None:
    for probe in consistency_probes(old, new, ROOTS[old], ROOTS[new], proof):
        with pytest.raises(VerificationError):
            merkle.verify_consistency(*probe)


def test_trivially_consistent_sizes() -> None:
    merkle.verify_consistency(0, 0, EMPTY, EMPTY, [])
    merkle.verify_consistency(0, 1, EMPTY, ROOTS[1], [])
    merkle.verify_consistency(0, 8, EMPTY, ROOTS[8], ())
    merkle.verify_consistency(1, 1, ROOTS[1], ROOTS[1], [])
    merkle.verify_consistency(8, 8, ROOTS[8], ROOTS[8], [])


# --------------------------------------------------------------------------
# verify_inclusion: every error path
# --------------------------------------------------------------------------

P5 = PATHS[-1]  # leaf index 1 of 5: three hashes
I5, N5, PATH5 = P5
LEAF5, ROOT5 = LEAVES[I5], ROOTS[N5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((LEAF5.hex(), I5, N5, PATH5, ROOT5), "leaf hash must be bytes, not str"),
        ((LEAF5[:31], I5, N5, PATH5, ROOT5), "leaf hash must be 32 bytes, got 31"),
        ((LEAF5 + b"\x00", I5, N5, PATH5, ROOT5), "leaf hash must be 32 bytes, got 33"),
        ((bytearray(LEAF5), I5, N5, PATH5, ROOT5), "leaf hash must be bytes, not bytearray"),
        ((LEAF5, I5, N5, PATH5, None), "root must be bytes, not NoneType"),
        ((LEAF5, I5, N5, PATH5, b""), "root must be 32 bytes, got 0"),
        ((LEAF5, I5, N5, iter(PATH5), ROOT5), "proof must be a list or tuple of hashes, not list_iterator"),
        ((LEAF5, I5, N5, b"".join(PATH5), ROOT5), "proof must be a list or tuple of hashes, not bytes"),
        ((LEAF5, I5, N5, None, ROOT5), "proof must be a list or tuple"),
        (
            (LEAF5, I5, N5, [PATH5[0], PATH5[1].hex(), PATH5[2]], ROOT5),
            "proof element 1 must be bytes, not str",
        ),
        ((LEAF5, I5, N5, [PATH5[0], PATH5[1], 7], ROOT5), "proof element 2 must be bytes, not int"),
        ((LEAF5, I5, N5, [PATH5[0][:16], *PATH5[1:]], ROOT5), "proof element 0 must be 32 bytes, got 16"),
        ((LEAF5, I5, N5, [*PATH5, b""], ROOT5), "proof element 3 must be 32 bytes, got 0"),
        ((LEAF5, 1.0, N5, PATH5, ROOT5), "leaf index must be an int, not float"),
        ((LEAF5, True, N5, PATH5, ROOT5), "leaf index must be an int, not bool"),
        ((LEAF5, I5, "5", PATH5, ROOT5), "tree size must be an int, not str"),
        ((LEAF5, -1, N5, PATH5, ROOT5), "leaf index must not be negative, got -1"),
        ((LEAF5, I5, -5, PATH5, ROOT5), "tree size must not be negative, got -5"),
        ((LEAF5, 5, 5, PATH5, ROOT5), "leaf index 5 is outside the tree of size 5"),
        ((LEAF5, 6, 5, PATH5, ROOT5), "leaf index 6 is outside the tree of size 5"),
        ((LEAF5, I5, N5, [*PATH5, SOME_HASH], ROOT5), "is too long: 4 hashes"),
        ((LEAF5, I5, N5, PATH5[:2], ROOT5), "is too short: 2 hashes"),
        ((LEAF5, I5, N5, [], ROOT5), "is too short: 0 hashes"),
        ((LEAF5, I5, N5, PATH5, ROOTS[4]), f"leads to root {ROOT5.hex()}, expected {ROOTS[4].hex()}"),
        ((LEAVES[0], I5, N5, PATH5, ROOT5), "leads to root"),
    ],
)
def test_verify_inclusion_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        merkle.verify_inclusion(*args)


def test_verify_inclusion_error_names_the_index() -> None:
    with pytest.raises(VerificationError) as e:
        merkle.verify_inclusion(LEAF5, I5, N5, PATH5, ROOTS[4])
    assert e.value.index == I5
    with pytest.raises(VerificationError) as e:
        merkle.verify_inclusion(LEAF5, I5, N5, PATH5[:1], ROOT5)
    assert e.value.index == I5
    with pytest.raises(VerificationError) as e:
        merkle.verify_inclusion(LEAF5, 7, N5, PATH5, ROOT5)
    assert e.value.index is None


def test_verify_inclusion_single_leaf() -> None:
    merkle.verify_inclusion(LEAVES[0], 0, 1, [], ROOTS[1])
    with pytest.raises(VerificationError, match="is too long: 1 hashes"):
        merkle.verify_inclusion(LEAVES[0], 0, 1, [EMPTY], ROOTS[1])
    with pytest.raises(VerificationError, match="leads to root"):
        merkle.verify_inclusion(LEAVES[1], 0, 1, [], ROOTS[1])


class Digest(bytes):
    """A bytes subclass: accepted by the slow path of the argument checks."""


class Size(int):
    """An int subclass: accepted by the slow path of the argument checks."""


def test_verify_accepts_bytes_and_int_subclasses() -> None:
    merkle.verify_inclusion(Digest(LEAF5), Size(I5), Size(N5), [Digest(p) for p in PATH5], Digest(ROOT5))
    old, new, proof = PROOFS[2]
    merkle.verify_consistency(
        Size(old), Size(new), Digest(ROOTS[old]), Digest(ROOTS[new]), [Digest(p) for p in proof]
    )


# --------------------------------------------------------------------------
# verify_consistency: every error path
# --------------------------------------------------------------------------

O6, N8, PROOF68 = PROOFS[2]  # 6 -> 8: three hashes
R6, R8 = ROOTS[O6], ROOTS[N8]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("6", N8, R6, R8, PROOF68), "old size must be an int, not str"),
        ((O6, 8.0, R6, R8, PROOF68), "new size must be an int, not float"),
        ((False, N8, R6, R8, PROOF68), "old size must be an int, not bool"),
        ((-1, N8, R6, R8, PROOF68), "old size must not be negative, got -1"),
        ((O6, -8, R6, R8, PROOF68), "new size must not be negative, got -8"),
        ((O6, N8, R6.hex(), R8, PROOF68), "old root must be bytes, not str"),
        ((O6, N8, R6, R8[:-1], PROOF68), "new root must be 32 bytes, got 31"),
        ((O6, N8, R6, R8, None), "proof must be a list or tuple of hashes, not NoneType"),
        (
            (O6, N8, R6, R8, [PROOF68[0], bytearray(PROOF68[1])]),
            "proof element 1 must be bytes, not bytearray",
        ),
        ((O6, N8, R6, R8, [*PROOF68, b"\x00" * 64]), "proof element 3 must be 32 bytes, got 64"),
        ((N8, O6, R8, R6, PROOF68), "old size 8 is larger than new size 6"),
        ((1, 0, ROOTS[1], EMPTY, []), "old size 1 is larger than new size 0"),
        ((O6, O6, R6, R6, PROOF68), "consistency proof between equal sizes 6 must be empty"),
        ((O6, O6, R6, R8, []), "roots differ for the same tree size 6"),
        ((0, 0, EMPTY, SOME_HASH, []), "roots differ for the same tree size 0"),
        ((0, 0, EMPTY, EMPTY, [EMPTY]), "consistency proof between equal sizes 0 must be empty"),
        ((0, N8, EMPTY, R8, [R8]), "consistency proof from the empty tree must be empty"),
        ((0, N8, SOME_HASH, R8, []), "old root of the empty tree is not SHA-256 of the empty string"),
        ((O6, N8, R6, R8, []), "consistency proof from size 6 to 8 is empty"),
        ((O6, N8, R6, R8, [*PROOF68, SOME_HASH]), "consistency proof from size 6 to 8 is too long: 4 hashes"),
        ((O6, N8, R6, R8, PROOF68[:2]), "consistency proof from size 6 to 8 is too short: 2 hashes"),
        ((O6, N8, SOME_HASH, R8, PROOF68), f"leads to old root {R6.hex()}, expected {SOME_HASH.hex()}"),
        ((O6, N8, R6, SOME_HASH, PROOF68), f"leads to new root {R8.hex()}, expected {SOME_HASH.hex()}"),
        ((4, N8, ROOTS[4], R8, [SOME_HASH]), "leads to new root"),
        ((4, N8, SOME_HASH, R8, PROOFS[1][2][2:]), "leads to new root"),
    ],
)
def test_verify_consistency_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        merkle.verify_consistency(*args)


# --------------------------------------------------------------------------
# Builders: argument errors
# --------------------------------------------------------------------------


def test_node_hash_argument_errors() -> None:
    with pytest.raises(TypeError, match="left must be bytes, not str"):
        merkle.node_hash("00" * 32, LEAVES[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="right must be 32 bytes, not 31"):
        merkle.node_hash(LEAVES[0], LEAVES[1][:31])


def test_root_argument_errors() -> None:
    with pytest.raises(TypeError, match="leaf hash 1 must be bytes, not bytearray"):
        merkle.root([LEAVES[0], bytearray(LEAVES[1])])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="leaf hash 0 must be 32 bytes, not 0"):
        merkle.root([b""])


def test_inclusion_proof_argument_errors() -> None:
    with pytest.raises(IndexError, match="leaf index 8 is outside the tree of size 8"):
        merkle.inclusion_proof(LEAVES, 8)
    with pytest.raises(IndexError, match="leaf index -1 is outside the tree of size 8"):
        merkle.inclusion_proof(LEAVES, -1)
    with pytest.raises(ValueError, match="leaf hash 2 must be 32 bytes"):
        merkle.inclusion_proof([*LEAVES[:2], b"x"], 0)


def test_consistency_proof_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"old size 9 is outside \[0, 8\]"):
        merkle.consistency_proof(LEAVES, 9)
    with pytest.raises(ValueError, match=r"old size -1 is outside \[0, 8\]"):
        merkle.consistency_proof(LEAVES, -1)
    with pytest.raises(TypeError, match="leaf hash 0 must be bytes"):
        merkle.consistency_proof([None], 0)  # type: ignore[list-item]


def test_consistency_proof_trivial_cases_are_empty() -> None:
    assert merkle.consistency_proof(LEAVES, 0) == []
    assert merkle.consistency_proof(LEAVES, 8) == []
    assert merkle.consistency_proof([], 0) == []


def test_all_is_the_public_api() -> None:
    assert sorted(merkle.__all__) == [
        "consistency_proof",
        "inclusion_proof",
        "leaf_hash",
        "node_hash",
        "root",
        "verify_consistency",
        "verify_inclusion",
    ]
