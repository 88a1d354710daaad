"""The simulator's entropy source: a stream fixed by the seed alone, handed out in order."""

import numpy as np

from backchannel.sim.clock import ENTROPY_BLOCK, entropy


def test_the_same_seed_gives_the_same_bytes_whatever_the_sizes_asked() -> None:
    sizes = [16, 32, 1, 7, ENTROPY_BLOCK - 3, 64, 2 * ENTROPY_BLOCK + 5, 12]
    first = entropy(np.random.default_rng(7))
    second = entropy(np.random.default_rng(7))
    drawn = [first(n) for n in sizes]
    assert [len(b) for b in drawn] == sizes
    assert drawn == [second(n) for n in sizes]


def test_draws_are_consecutive_slices_of_one_stream() -> None:
    whole = entropy(np.random.default_rng(3))(3 * ENTROPY_BLOCK)
    draw = entropy(np.random.default_rng(3))
    parts = b"".join(draw(n) for n in (5, 1000, ENTROPY_BLOCK, 11, 2 * ENTROPY_BLOCK - 1016))
    assert parts == whole[: len(parts)]


def test_different_seeds_differ_and_zero_bytes_is_empty() -> None:
    assert entropy(np.random.default_rng(1))(32) != entropy(np.random.default_rng(2))(32)
    assert entropy(np.random.default_rng(1))(0) == b""
