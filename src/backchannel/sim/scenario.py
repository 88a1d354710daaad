"""Scenarios as TOML files: parties, agenda, scripted moves, the fault schedule and SLOs.

A scenario file (see ``scenarios/doha-shuttle.toml``) holds::

    name, title, track                        strings
    [[parties]]  name, kind ("mediator" | "delegation" | "witness" | "inspector"),
                 members (["principal", "delegate", ...]; the first is the principal)
    [[agenda.issues]]  name, type ("number": unit, min, max, step | "choice": options)
    [[moves]]    by ("party/member"), do (one of MOVES) and the move's fields; a submit with
                 agent = "boulware" (any negotiation agent) lets the party's agent choose its values
    [grids]      issue = [values]: the values an agent negotiates over for a numeric issue
    [faults]     random (how many to draw from the seed), kinds, [[faults.scheduled]]
    [presence]   heartbeat_seconds (parties heart-beat this often; 0: never)
    [policy]     queue_limit, credit (the delivery policy's, for a storm)
    [slo]        ack_seconds = {priority = seconds}, detect_silent_seconds, escalate_seconds

:func:`load_scenario` reads a path or the name of a built-in scenario, and
refuses a malformed one with the field path and the rule broken.

This module does not run scenarios (:mod:`backchannel.sim.run` does).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backchannel.domain import Agenda
from backchannel.domain.agenda import ChoiceIssue, Issue, NumberIssue
from backchannel.errors import ConfigurationError
from backchannel.negotiation.agents import make_agent
from backchannel.negotiation.bridge import AgendaCodec
from backchannel.sim.faults import KINDS, Fault, fault_from_dict

if TYPE_CHECKING:
    from backchannel.sim.result import RunResult

__all__ = ["BUILT_IN", "MOVES", "Party", "Scenario", "load_scenario", "parse_scenario"]

MOVES = (
    "submit",
    "relay",
    "reframe",
    "receive",
    "hold",
    "prepare_deal",
    "vote",
    "compromise",
    "wait",
    "flood",
    "triage",
    "verify",
)
"""What a scripted move may do."""

BUILT_IN = ("doha-shuttle", "vance-stays-home", "broadcast-storm", "mediator-crash-mid-2pc", "key-compromise")
"""The built-in game days (package data)."""

_PARTY_KINDS = ("mediator", "delegation", "witness", "inspector")
_POLICY_KEYS = ("queue_limit", "credit")
_MAX_FLOOD = 1000


@dataclass(frozen=True, slots=True)
class Party:
    """One party: its name, kind and members (the first is its principal)."""

    name: str
    kind: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario.

    Attributes:
        name: Its name.
        title: A one-line description.
        track: The track id it plays on.
        parties: The parties, the mediator first.
        agenda: The agenda proposed and ratified at the start (``None``: none).
        moves: The scripted moves, in order (raw tables, checked).
        random_faults: How many faults each seed draws.
        fault_kinds: The kinds they are drawn from.
        scheduled: Faults written out, applied on every seed.
        ack_slo: Priority -> seconds an acknowledgement should take at most.
    """

    name: str
    title: str
    track: str
    parties: tuple[Party, ...]
    agenda: Agenda | None
    moves: tuple[Mapping[str, Any], ...]
    random_faults: int = 0
    fault_kinds: tuple[str, ...] = KINDS
    scheduled: tuple[Fault, ...] = ()
    ack_slo: Mapping[str, float] = field(default_factory=dict)
    detect_silent_slo: float | None = None
    escalate_slo: float | None = None
    heartbeat_seconds: float = 0.0
    grids: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    policy: Mapping[str, int] = field(default_factory=dict)

    def slo_misses(self, result: RunResult) -> list[str]:
        """Each figure of ``result`` over its objective, as ``what: value > objective``."""
        misses = [
            f"ack {priority}: {value:g} s > {self.ack_slo[priority]:g} s"
            for priority, values in sorted(result.latencies.items())
            for value in values
            if priority in self.ack_slo and value > self.ack_slo[priority]
        ]
        for name, values, slo in (
            ("detect silent", result.detect_silent, self.detect_silent_slo),
            ("escalate", result.escalate, self.escalate_slo),
        ):
            misses += [f"{name}: {v:g} s > {slo:g} s" for v in values if slo is not None and v > slo]
        return misses

    @property
    def mediator(self) -> Party:
        """The mediator party."""
        return self.parties[0]

    @property
    def members(self) -> tuple[str, ...]:
        """Every member id (``party/member``)."""
        return tuple(f"{p.name}/{m}" for p in self.parties for m in p.members)


def load_scenario(source: str | Path) -> Scenario:
    """Read a scenario file, or a built-in scenario by name.

    Raises:
        ConfigurationError: no such file or built-in, bad TOML, or a bad field.
    """
    if isinstance(source, str) and source in BUILT_IN:
        text = resources.files("backchannel.sim").joinpath("scenarios", f"{source}.toml").read_text("utf-8")
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigurationError(
                f"scenario: no file {path} and no built-in of that name ({', '.join(BUILT_IN)})"
            )
        text = path.read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"scenario {source}: not TOML ({e})") from e
    return parse_scenario(data)


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}{key}: must be a non-empty string (got {value!r})")
    return value


def _table_list(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigurationError(f"{where}{key}: must be an array of tables")
    return value


def _party(data: Mapping[str, Any], where: str) -> Party:
    kind = _text(data, "kind", where)
    if kind not in _PARTY_KINDS:
        raise ConfigurationError(f"{where}kind: must be one of {', '.join(_PARTY_KINDS)} (got {kind!r})")
    members = data.get("members", ["principal"])
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise ConfigurationError(f"{where}members: must be a non-empty array of names")
    return Party(_text(data, "name", where), kind, tuple(members))


def _issue(data: Mapping[str, Any], where: str) -> Issue:
    kind = data.get("type")
    try:
        if kind == "number":
            return NumberIssue(
                _text(data, "name", where), str(data.get("unit", "")), data["min"], data["max"], data["step"]
            )
        if kind == "choice":
            return ChoiceIssue(_text(data, "name", where), tuple(data["options"]))
    except KeyError as e:
        raise ConfigurationError(f"{where}{e.args[0]}: required for a {kind} issue") from e
    raise ConfigurationError(f"{where}type: must be number or choice (got {kind!r})")


def _move(data: Mapping[str, Any], where: str, members: tuple[str, ...]) -> Mapping[str, Any]:
    do = data.get("do")
    if do not in MOVES:
        raise ConfigurationError(f"{where}do: must be one of {', '.join(MOVES)} (got {do!r})")
    if do != "wait" and data.get("by") not in members:
        raise ConfigurationError(f"{where}by: must be a member of the scenario (got {data.get('by')!r})")
    if do == "compromise" and data.get("victim") not in members:
        raise ConfigurationError(
            f"{where}victim: must be a member of the scenario (got {data.get('victim')!r})"
        )
    if do in {"wait", "hold"} and not isinstance(data.get("seconds"), int | float):
        raise ConfigurationError(f"{where}seconds: a {do} needs a number of seconds")
    if do == "verify" and data.get("member") not in members:
        raise ConfigurationError(
            f"{where}member: must be a member of the scenario (got {data.get('member')!r})"
        )
    if do == "flood" and (not isinstance(data.get("count"), int) or not 1 <= data["count"] <= _MAX_FLOOD):
        raise ConfigurationError(
            f"{where}count: a flood sends 1 to {_MAX_FLOOD} messages (got {data.get('count')!r})"
        )
    return data


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Check and convert a scenario's TOML tables.

    Raises:
        ConfigurationError: the first bad field, by path (``moves[3].by: ...``).
    """
    parties = tuple(_party(p, f"parties[{i}].") for i, p in enumerate(_table_list(data, "parties", "")))
    if not parties or parties[0].kind != "mediator":
        raise ConfigurationError("parties[0].kind: the first party must be the mediator")
    agenda_table = data.get("agenda", {})
    issues = _table_list(agenda_table if isinstance(agenda_table, dict) else {}, "issues", "agenda.")
    agenda = (
        Agenda(1, tuple(_issue(t, f"agenda.issues[{i}].") for i, t in enumerate(issues))) if issues else None
    )
    members = tuple(f"{p.name}/{m}" for p in parties for m in p.members)
    moves = tuple(_move(m, f"moves[{i}].", members) for i, m in enumerate(_table_list(data, "moves", "")))
    faults = data.get("faults", {})
    scheduled = tuple(
        fault_from_dict(f, f"faults.scheduled[{i}]")
        for i, f in enumerate(_table_list(faults, "scheduled", "faults."))
    )
    kinds = tuple(faults.get("kinds", KINDS))
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise ConfigurationError(f"faults.kinds[{i}]: must be one of {', '.join(KINDS)} (got {kind!r})")
    count = faults.get("random", 0)
    if not isinstance(count, int) or count < 0:
        raise ConfigurationError(f"faults.random: must be a count >= 0 (got {count!r})")
    slo_table = data.get("slo", {})
    slo = slo_table.get("ack_seconds", {})
    heartbeat = data.get("presence", {}).get("heartbeat_seconds", 0)
    if not isinstance(heartbeat, int | float) or heartbeat < 0:
        raise ConfigurationError(f"presence.heartbeat_seconds: must be a number >= 0 (got {heartbeat!r})")
    policy = _policy(data.get("policy", {}))
    objectives = _objectives(slo_table)
    grids = data.get("grids", {})
    if not isinstance(grids, dict) or not all(isinstance(v, list) and v for v in grids.values()):
        raise ConfigurationError("grids: must map issue names to non-empty arrays of values")
    _check_agents(moves, agenda, grids)
    return Scenario(
        name=_text(data, "name", ""),
        title=str(data.get("title", "")),
        track=_text(data, "track", ""),
        parties=parties,
        agenda=agenda,
        moves=moves,
        random_faults=count,
        fault_kinds=kinds,
        scheduled=scheduled,
        ack_slo={str(k): float(v) for k, v in slo.items()},
        detect_silent_slo=objectives["detect_silent_seconds"],
        escalate_slo=objectives["escalate_seconds"],
        heartbeat_seconds=float(heartbeat),
        policy=policy,
        grids={str(k): tuple(v) for k, v in grids.items()},
    )


def _policy(policy: Mapping[str, Any]) -> dict[str, int]:
    for key, value in policy.items():
        if key not in _POLICY_KEYS or not isinstance(value, int) or value < 1:
            raise ConfigurationError(
                f"policy.{key}: must be one of {', '.join(_POLICY_KEYS)}, a count >= 1 (got {value!r})"
            )
    return dict(policy)


def _objectives(slo_table: Mapping[str, Any]) -> dict[str, float | None]:
    objectives: dict[str, float | None] = {}
    for key in ("detect_silent_seconds", "escalate_seconds"):
        value = slo_table.get(key)
        if value is not None and (not isinstance(value, int | float) or value <= 0):
            raise ConfigurationError(f"slo.{key}: must be a number of seconds > 0 (got {value!r})")
        objectives[key] = None if value is None else float(value)
    return objectives


def _check_agents(
    moves: tuple[Mapping[str, Any], ...], agenda: Agenda | None, grids: Mapping[str, Any]
) -> None:
    """Refuse agent moves that cannot be played: an unknown agent, no agenda, an issue without a grid."""
    named = [(i, m) for i, m in enumerate(moves) if "agent" in m]
    if not named:
        return
    if agenda is None:
        raise ConfigurationError(f"moves[{named[0][0]}].agent: an agent negotiates an agenda: none here")
    AgendaCodec.from_agenda(agenda, grids)
    for i, move in named:
        if move["do"] != "submit":
            raise ConfigurationError(f"moves[{i}].agent: only a submit move is played by an agent")
        make_agent(str(move["agent"]), field=f"moves[{i}].agent")
