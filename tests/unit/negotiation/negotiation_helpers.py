"""Helpers for the negotiation tests: the shared scenario file and random scenario documents."""

from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
SCENARIO_FILE = SHARED / "scenarios" / "sao-3x10-boulware-vs-conceder.json"


def random_document(seed: int, *, ties: bool = False) -> dict:
    """A random small scenario in the shared format (random weights, tables, reserved values, exponents)."""
    rng = np.random.default_rng(seed)
    n_issues = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 7)) for _ in range(n_issues)]
    if np.prod(sizes) < 2:
        sizes[0] = 2

    def party():
        weights = rng.dirichlet(np.ones(n_issues)).round(6)
        weights[-1] = 1 - weights[:-1].sum()
        weights = np.abs(weights)
        if ties:
            tables = [(rng.integers(0, 4, size) / 3).tolist() for size in sizes]
        else:
            tables = [rng.random(size).tolist() for size in sizes]
        return {
            "weights": weights.tolist(),
            "values": tables,
            "reserved_value": float(rng.choice([rng.uniform(-0.2, 1.1), 0.0, 0.5])),
        }

    def agent():
        return {
            "aspiration": {
                "type": "poly",
                "exponent": float(rng.choice([0.1, 0.25, 0.5, 1, 2, 4, 10]) * rng.uniform(0.5, 2)),
                "max_aspiration": float(rng.uniform(0.3, 1.0)),
            }
        }

    n_profiles = int(rng.integers(1, 6))
    return {
        "schema": "backchannel-bench-scenario/1",
        "name": f"random-{seed}",
        "outcome_space": {
            "type": "cartesian",
            "issues": [{"name": f"i{k}", "values": list(range(s))} for k, s in enumerate(sizes)],
        },
        "protocol": {"type": "SAO", "n_rounds": int(rng.integers(1, 40)), "time_limit_seconds": None},
        "agents": {
            "A": agent(),
            "B": agent(),
            "common_rules": {"tolerance": float(rng.choice([0.0, 1e-4, 0.05]))},
        },
        "schedule": {"n_profiles": n_profiles},
        "profiles": [{"id": i, "A": party(), "B": party()} for i in range(n_profiles)],
    }
