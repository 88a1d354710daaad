"""The shared engine-neutral scenario format (``backchannel-bench-scenario/1``), loaded and validated.

A scenario file (``../shared/scenarios/sao-3x10-boulware-vs-conceder.json``) describes a bilateral
negotiation benchmark without naming an engine: a cartesian outcome space, linear additive utilities
per party and profile, the stacked-alternating-offers protocol, two time-based aspiration agents,
a schedule of negotiations and the metrics. :func:`load_scenario` reads one and :func:`parse_scenario`
validates a decoded document strictly: a missing or mistyped field, an unknown field where the data
lives, an unknown agent or protocol type is a :class:`~backchannel.errors.ConfigurationError` naming
the JSON path (``profiles[3].A.weights: must sum to 1 (got 0.8)``). Malformed JSON is an
:class:`~backchannel.errors.EncodingError`.

The rules written in the file (offer choice, acceptance, relative time, tie-breaking) are implemented
by :mod:`backchannel.negotiation.engine` and :mod:`backchannel.negotiation.vector`; this module only
carries the numbers they need. The ``mediated_variant`` section is kept as raw data for the mediated
protocols; it is not interpreted here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.negotiation.preferences import LinearAdditivePreferences, check_weights
from backchannel.negotiation.space import IssueValue, OutcomeSpace

__all__ = [
    "AGENT_TYPES",
    "SCHEMA",
    "AgentSpec",
    "Opener",
    "Profile",
    "Scenario",
    "load_scenario",
    "parse_scenario",
]

SCHEMA = "backchannel-bench-scenario/1"
"""The only schema version this module reads."""

AGENT_TYPES = ("poly",)
"""Known aspiration types: ``a(t) = max_aspiration * (1 - t ** exponent)``."""

Opener = Literal["A", "B"]
"""Which party proposes first."""

_TOP = frozenset(
    {
        "schema",
        "name",
        "provenance",
        "outcome_space",
        "utility_model",
        "protocol",
        "agents",
        "schedule",
        "metrics",
        "mediated_variant",
        "profiles",
    }
)
_PARTY = frozenset({"weights", "values", "reserved_value"})
_PROFILE = frozenset({"id", "A", "B", "derived"})


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """A time-based aspiration agent: ``a(t) = max_aspiration * (1 - t ** exponent)``.

    Attributes:
        label: A human name (``Boulware``, ``Conceder``).
        exponent: The aspiration exponent (> 1 Boulware, 1 linear, < 1 conceder).
        max_aspiration: The aspiration at ``t = 0``, in (0, 1].
    """

    label: str
    exponent: float
    max_aspiration: float = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    """One preference profile: the two parties' preferences (and the file's derived Nash outcome).

    Attributes:
        profile_id: The profile's ``id`` (its position in ``profiles``).
        a: Party A's preferences.
        b: Party B's preferences.
        nash_outcome: ``derived.nash_outcome`` when the file gives it (``None`` also when undefined).
    """

    profile_id: int
    a: LinearAdditivePreferences
    b: LinearAdditivePreferences
    nash_outcome: tuple[IssueValue, ...] | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario: space, profiles, protocol length, agents and schedule.

    Attributes:
        name: The scenario's name.
        space: The outcome space.
        profiles: The preference profiles, by id.
        n_rounds: The SAO deadline in rounds.
        agents: The agent playing each party.
        tolerance: ``agents.common_rules.tolerance`` (subtracted from the aspiration threshold).
        n_profiles: ``schedule.n_profiles``.
        mediated_variant: The raw ``mediated_variant`` section, if any.
    """

    name: str
    space: OutcomeSpace
    profiles: tuple[Profile, ...]
    n_rounds: int
    agents: Mapping[str, AgentSpec]
    tolerance: float
    n_profiles: int
    mediated_variant: Mapping[str, object] | None = field(default=None, compare=False)

    def utilities(self, profile: int) -> NDArray[np.float64]:
        """``(n_outcomes, 2)`` utilities of profile ``profile`` (column 0 is A, 1 is B)."""
        chosen = self.profiles[profile]
        return np.column_stack((chosen.a.utilities(self.space), chosen.b.utilities(self.space)))

    def reserved(self, profile: int) -> NDArray[np.float64]:
        """The two reserved values ``[r_A, r_B]`` of profile ``profile``."""
        chosen = self.profiles[profile]
        return np.array([chosen.a.reserved_value, chosen.b.reserved_value], dtype=np.float64)

    def negotiation(self, i: int) -> tuple[int, Opener]:
        """The schedule: negotiation ``i`` plays ``(profile, opener)``.

        "profile = i mod n_profiles; opener = 'A' if (i // n_profiles) % 2 == 0 else 'B'".
        """
        return i % self.n_profiles, ("A" if (i // self.n_profiles) % 2 == 0 else "B")


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        EncodingError: The file is not JSON.
        ConfigurationError: The file cannot be read, or the document breaks a rule (naming the JSON path).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot read the scenario file ({e.strerror})") from e
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise EncodingError(f"{path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e
    return parse_scenario(document)


def parse_scenario(document: object) -> Scenario:
    """Validate a decoded scenario document strictly.

    Raises:
        ConfigurationError: The first rule broken, naming its JSON path.
    """
    top = _object(document, "$", required=("schema", "outcome_space", "protocol", "agents", "profiles"))
    _no_unknown(top, _TOP, "")
    if top["schema"] != SCHEMA:
        raise ConfigurationError(f"schema: expected {SCHEMA!r}, got {top['schema']!r}")
    space = OutcomeSpace.from_dict(top["outcome_space"])
    if "utility_model" in top:
        model = _object(top["utility_model"], "utility_model", required=("type",))
        if model["type"] != "linear_additive":
            raise ConfigurationError(
                f"utility_model.type: only 'linear_additive' is known, got {model['type']!r}"
            )
    n_rounds, tolerance, agents = _protocol(top["protocol"]), *_agents(top["agents"])
    profiles = _profiles(top["profiles"], space)
    n_profiles = _schedule(top.get("schedule"), len(profiles))
    variant = top.get("mediated_variant")
    return Scenario(
        name=_string(top.get("name", "unnamed"), "name"),
        space=space,
        profiles=profiles,
        n_rounds=n_rounds,
        agents=agents,
        tolerance=tolerance,
        n_profiles=n_profiles,
        mediated_variant=variant if isinstance(variant, Mapping) else None,
    )


def _object(value: object, path: str, *, required: tuple[str, ...] = ()) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{path}: expected an object")
    for key in required:
        if key not in value:
            raise ConfigurationError(f"{_join(path, key)}: missing (required)")
    return value


def _join(path: str, key: str) -> str:
    return key if path in {"", "$"} else f"{path}.{key}"


def _no_unknown(value: Mapping[str, object], known: frozenset[str], path: str) -> None:
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigurationError(f"{_join(path, unknown[0])}: unknown field")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{path}: expected a string")
    return value


def _number(value: object, path: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{path}: expected a finite number")
    if not low <= value <= high:
        raise ConfigurationError(f"{path}: must be in [{low}, {high}] (got {value})")
    return float(value)


def _integer(value: object, path: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"{path}: expected an integer >= {low}")
    return value


def _protocol(value: object) -> int:
    protocol = _object(value, "protocol", required=("type", "n_rounds"))
    if protocol["type"] != "SAO":
        raise ConfigurationError(
            f"protocol.type: only 'SAO' (stacked alternating offers) is known, got {protocol['type']!r}"
        )
    if protocol.get("time_limit_seconds") is not None:
        raise ConfigurationError(
            "protocol.time_limit_seconds: wall-clock limits are not reproducible; must be null"
        )
    return _integer(protocol["n_rounds"], "protocol.n_rounds", low=1)


def _agents(value: object) -> tuple[float, dict[str, AgentSpec]]:
    agents = _object(value, "agents", required=("A", "B", "common_rules"))
    _no_unknown(agents, frozenset({"A", "B", "common_rules"}), "agents")
    rules = _object(agents["common_rules"], "agents.common_rules", required=("tolerance",))
    tolerance = _number(rules["tolerance"], "agents.common_rules.tolerance", low=0.0)
    return tolerance, {party: _agent(agents[party], f"agents.{party}") for party in ("A", "B")}


def _agent(value: object, path: str) -> AgentSpec:
    agent = _object(value, path, required=("aspiration",))
    aspiration = _object(agent["aspiration"], f"{path}.aspiration", required=("type", "exponent"))
    if aspiration["type"] not in AGENT_TYPES:
        raise ConfigurationError(
            f"{path}.aspiration.type: unknown agent type {aspiration['type']!r} "
            f"(known: {', '.join(AGENT_TYPES)})"
        )
    exponent = _number(aspiration["exponent"], f"{path}.aspiration.exponent", low=0.0)
    if exponent == 0:
        raise ConfigurationError(f"{path}.aspiration.exponent: must be > 0")
    maximum = _number(
        aspiration.get("max_aspiration", 1.0), f"{path}.aspiration.max_aspiration", low=0.0, high=1.0
    )
    return AgentSpec(_string(agent.get("label", path), f"{path}.label"), exponent, maximum)


def _schedule(value: object, count: int) -> int:
    if value is None:
        return count
    schedule = _object(value, "schedule", required=("n_profiles",))
    n_profiles = _integer(schedule["n_profiles"], "schedule.n_profiles", low=1)
    if n_profiles != count:
        raise ConfigurationError(f"schedule.n_profiles: says {n_profiles}, profiles holds {count}")
    return n_profiles


def _profiles(value: object, space: OutcomeSpace) -> tuple[Profile, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigurationError("profiles: expected a non-empty list")
    return tuple(_profile(item, i, space) for i, item in enumerate(value))


def _profile(value: object, i: int, space: OutcomeSpace) -> Profile:
    path = f"profiles[{i}]"
    profile = _object(value, path, required=("id", "A", "B"))
    _no_unknown(profile, _PROFILE, path)
    if _integer(profile["id"], f"{path}.id", low=0) != i:
        raise ConfigurationError(f"{path}.id: must equal its position {i} (got {profile['id']})")
    a, b = (_party(profile[p], f"{path}.{p}", space) for p in ("A", "B"))
    return Profile(i, a, b, _nash(profile.get("derived"), f"{path}.derived", space))


def _party(value: object, path: str, space: OutcomeSpace) -> LinearAdditivePreferences:
    party = _object(value, path, required=tuple(sorted(_PARTY)))
    _no_unknown(party, _PARTY, path)
    weights, tables = party["weights"], party["values"]
    if not isinstance(weights, list) or len(weights) != len(space.issues):
        raise ConfigurationError(f"{path}.weights: expected a list of {len(space.issues)} numbers")
    check_weights(
        [_number(w, f"{path}.weights[{k}]", low=0.0) for k, w in enumerate(weights)], f"{path}.weights"
    )
    if not isinstance(tables, list) or len(tables) != len(space.issues):
        raise ConfigurationError(f"{path}.values: expected one value table per issue ({len(space.issues)})")
    for k, (table, issue) in enumerate(zip(tables, space.issues, strict=True)):
        if not isinstance(table, list) or len(table) != len(issue.values):
            raise ConfigurationError(f"{path}.values[{k}]: expected {len(issue.values)} numbers")
        for j, v in enumerate(table):
            _number(v, f"{path}.values[{k}][{j}]")
    reserved = _number(party["reserved_value"], f"{path}.reserved_value")
    return LinearAdditivePreferences.from_tables(weights, tables, reserved)


def _nash(value: object, path: str, space: OutcomeSpace) -> tuple[IssueValue, ...] | None:
    if value is None:
        return None
    derived = _object(value, path)
    outcome = derived.get("nash_outcome")
    if outcome is None:
        return None
    if not isinstance(outcome, list):
        raise ConfigurationError(f"{path}.nash_outcome: expected a list of values or null")
    try:
        return space.outcome(space.index(outcome))
    except ConfigurationError as e:
        raise ConfigurationError(f"{path}.nash_outcome: {e}") from e
