"""Test helpers for the agents and protocols tests: the shared scenario as utility arrays.

The loader is deliberately independent of ``negotiation.scenario`` (built in parallel): it applies the
file's ``utility_model.formula`` directly, so the tests check the agents against the file's own words.
"""

import itertools
import json
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
SCENARIO_FILE = SHARED / "scenarios" / "sao-3x10-boulware-vs-conceder.json"


@cache
def scenario() -> dict:
    return json.loads(SCENARIO_FILE.read_text(encoding="utf-8"))


def shape() -> tuple[int, ...]:
    return tuple(len(issue["values"]) for issue in scenario()["outcome_space"]["issues"])


def party_utility(party: dict) -> NDArray[np.float64]:
    outcomes = itertools.product(*(range(n) for n in shape()))
    weights, values = party["weights"], party["values"]
    return np.array(
        [sum(weights[k] * values[k][x] for k, x in enumerate(o)) for o in outcomes], dtype=np.float64
    )


@cache
def profile(i: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(u of shape (1000, 2), reserved of shape (2,)) for profile ``i``."""
    p = scenario()["profiles"][i]
    u = np.column_stack([party_utility(p["A"]), party_utility(p["B"])])
    return u, np.array([p["A"]["reserved_value"], p["B"]["reserved_value"]])


def outcome_index(values: list[int]) -> int:
    return int(np.ravel_multi_index(tuple(values), shape()))


def random_problem(rng: np.random.Generator, n_parties: int, dims: tuple[int, ...]):
    """Random utilities on a lattice of shape ``dims``, with reserved values below each party's best."""
    n = int(np.prod(dims))
    u = rng.random((n, n_parties))
    r = rng.random(n_parties) * u.max(axis=0) * 0.8
    return u, r
