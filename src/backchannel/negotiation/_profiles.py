"""Read the bilateral profiles of a shared-format scenario file as utility arrays (for tournaments).

A scenario file (schema ``backchannel-bench-scenario/1``, e.g. ``sao-3x10-boulware-vs-conceder.json``)
holds an outcome space, an SAO round limit and many preference profiles. Each profile becomes one
:class:`Profile`: the ``(n_outcomes, 2)`` utility array of parties A and B (``utility_model.formula``:
``u_p(o) = sum_k weights[k] * values[k][o[k]]``, issues summed in order, last issue fastest), their
reserved values, the lattice shape and the round limit.

This private module only reads what tournaments need; the full scenario model (agendas, value
functions, uncertainty) lives in ``negotiation.scenario`` and ``negotiation.preferences``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError, NotFoundError

__all__ = ["Profile", "load_profiles"]


@dataclass(frozen=True)
class Profile:
    """One bilateral negotiation problem over an enumerated outcome space.

    Attributes:
        name: ``<file stem>#<profile id>``.
        utilities: ``(n_outcomes, 2)``: column 0 is party A, column 1 party B.
        reserved: ``(2,)``: the reserved values of A and B.
        shape: The number of values of each issue.
        n_rounds: The SAO round limit.
    """

    name: str
    utilities: NDArray[np.float64]
    reserved: NDArray[np.float64]
    shape: tuple[int, ...]
    n_rounds: int


def _field(data: Any, key: str, path: str) -> Any:  # noqa: ANN401 - parsed JSON
    if not isinstance(data, dict) or key not in data:
        raise ConfigurationError(f"{path}.{key}: missing")
    return data[key]


def _numbers(data: Any, path: str, length: int) -> NDArray[np.float64]:  # noqa: ANN401 - parsed JSON
    if not isinstance(data, list) or len(data) != length or not all(isinstance(x, int | float) for x in data):
        raise ConfigurationError(f"{path}: must be a list of {length} numbers")
    return np.asarray(data, dtype=np.float64)


def _party_utility(party: Any, path: str, shape: tuple[int, ...]) -> NDArray[np.float64]:  # noqa: ANN401
    weights = _numbers(_field(party, "weights", path), f"{path}.weights", len(shape))
    tables = _field(party, "values", path)
    if not isinstance(tables, list) or len(tables) != len(shape):
        raise ConfigurationError(f"{path}.values: must hold one value table per issue ({len(shape)})")
    total = np.zeros(shape, dtype=np.float64)
    for k, n in enumerate(shape):
        table = _numbers(tables[k], f"{path}.values[{k}]", n)
        axes = [1] * len(shape)
        axes[k] = n
        total = total + weights[k] * table.reshape(axes)
    return total.ravel()


def _reserved(party: Any, path: str) -> float:  # noqa: ANN401 - parsed JSON
    value = _field(party, "reserved_value", path)
    if not isinstance(value, int | float):
        raise ConfigurationError(f"{path}.reserved_value: must be a number")
    return float(value)


def load_profiles(path: Path) -> list[Profile]:
    """Read every profile of a shared-format scenario file.

    Args:
        path: The scenario file.

    Returns:
        One :class:`Profile` per entry of ``profiles``, in file order.

    Raises:
        NotFoundError: If the file does not exist.
        ConfigurationError: If it is not JSON or a field is missing or malformed (named by path).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise NotFoundError(f"{path}: no such scenario file") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigurationError(f"{path}: not a readable JSON scenario file ({e})") from e
    issues = _field(_field(data, "outcome_space", "scenario"), "issues", "scenario.outcome_space")
    if not isinstance(issues, list) or not issues:
        raise ConfigurationError("scenario.outcome_space.issues: must be a non-empty list")
    shape = tuple(
        len(_field(issue, "values", f"outcome_space.issues[{k}]")) for k, issue in enumerate(issues)
    )
    if any(n < 1 for n in shape):
        raise ConfigurationError(f"scenario.outcome_space.issues: every issue needs a value (sizes {shape})")
    n_rounds = _field(_field(data, "protocol", "scenario"), "n_rounds", "scenario.protocol")
    if not isinstance(n_rounds, int) or n_rounds < 1:
        raise ConfigurationError("scenario.protocol.n_rounds: must be an integer >= 1")
    profiles = _field(data, "profiles", "scenario")
    if not isinstance(profiles, list) or not profiles:
        raise ConfigurationError("scenario.profiles: must be a non-empty list")
    result = []
    for i, entry in enumerate(profiles):
        where = f"profiles[{i}]"
        a, b = _field(entry, "A", where), _field(entry, "B", where)
        u = np.column_stack([_party_utility(a, f"{where}.A", shape), _party_utility(b, f"{where}.B", shape)])
        r = np.array([_reserved(a, f"{where}.A"), _reserved(b, f"{where}.B")])
        result.append(Profile(f"{path.stem}#{entry.get('id', i)}", u, r, shape, n_rounds))
    return result
