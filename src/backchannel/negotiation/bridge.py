"""Let an agent play a delegation on a live track, through the SDK and the mediator's relays.

The agent never talks to the other side: it reads the proposals the mediator relayed to its party
(``poll`` on its inbox), answers each with a counter-proposal (the agenda values of its next offer)
or an acceptance, and receipts what it read. Every command is signed by the SDK client with the
member's key. A relayed proposal is checked before the agent sees it: a verbatim forward must carry
the author's signed command, whose SHA-256 is the message id and whose signature verifies under the
author's key as the track's roster records it; a reframed one is the mediator's own text.

- :class:`AgendaCodec` maps outcome indices to agenda values (``{"issue": value}``) and back, with the
  issues in order and the last issue fastest (the outcome-space enumeration);
- :class:`LiveNegotiator` plays one agent for one member on one track;
- :func:`relay_pending` is the mediator's side for scripts and tests: forward every submission in
  its queue, verbatim, to every other delegation.

Wire conventions (no new command is needed): an offer is a ``proposal`` (the first) or a
``counter_proposal`` with ``body.values`` on the ratified agenda; an acceptance is an ``answer`` whose
``in_reply_to`` is the accepted message and whose body is ``{"accept": true, "values": {...}}``.

This module imports the SDK client only; it never imports ``backchannel.api`` or ``backchannel.cli``,
and it reads no clock: relative time is the agent's turn count over its round limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backchannel.domain import Agenda
from backchannel.domain.agenda import BooleanIssue, ChoiceIssue
from backchannel.errors import ConfigurationError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.log.signing import VerifyingKey
from backchannel.negotiation.boa import Agent, AgentView
from backchannel.negotiation.space import OutcomeSpace
from backchannel.protocol.wire import SignedCommand
from backchannel.sdk import BackchannelClient

__all__ = ["AgendaCodec", "LiveNegotiator", "LiveOutcome", "Relayed", "read_relayed", "relay_pending"]


@dataclass(frozen=True)
class AgendaCodec:
    """Outcome index <-> agenda values, over a discrete grid of each issue's values.

    Attributes:
        issues: ``(name, values)`` per issue, in agenda order; index ``i`` enumerates the Cartesian
            product with the last issue fastest.
    """

    issues: tuple[tuple[str, tuple[JSONValue, ...]], ...]

    def __post_init__(self) -> None:
        """Check that there is an issue and that every issue has distinct values.

        Raises:
            ConfigurationError: Naming the issue.
        """
        if not self.issues:
            raise ConfigurationError("issues: an outcome space needs at least one issue")
        for name, values in self.issues:
            if not values or len(set(map(repr, values))) != len(values):
                raise ConfigurationError(f"issues.{name}: needs at least one value, all distinct")

    @classmethod
    def from_agenda(
        cls, agenda: Agenda, grids: Mapping[str, Sequence[JSONValue]] | None = None
    ) -> AgendaCodec:
        """Build the codec of an agenda: options for choices, ``False, True`` for booleans.

        Args:
            agenda: The ratified agenda.
            grids: The values to negotiate over, for issues without a finite list (numbers, dates,
                text); they may also narrow a choice. Each value must fit the agenda.

        Raises:
            ConfigurationError: If an issue has no grid or a grid value does not fit the agenda.
        """
        grids = grids or {}
        issues = []
        for issue in agenda.issues:
            values: tuple[JSONValue, ...]
            if issue.name in grids:
                values = tuple(grids[issue.name])
                for position, value in enumerate(values):
                    if issue.check(value):
                        raise ConfigurationError(
                            f"grids.{issue.name}[{position}]: {value!r} does not fit the agenda"
                        )
            elif isinstance(issue, ChoiceIssue):
                values = tuple(issue.options)
            elif isinstance(issue, BooleanIssue):
                values = (False, True)
            else:
                raise ConfigurationError(f"grids.{issue.name}: a {issue.kind} issue needs a grid of values")
            issues.append((issue.name, values))
        return cls(tuple(issues))

    @classmethod
    def from_space(cls, space: OutcomeSpace) -> AgendaCodec:
        """Build the codec of an enumerated outcome space (same issues, values and order)."""
        return cls(tuple((issue.name, tuple(issue.values)) for issue in space.issues))

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values of each issue."""
        return tuple(len(values) for _, values in self.issues)

    @property
    def n_outcomes(self) -> int:
        """The number of outcomes."""
        return int(np.prod(self.shape))

    def values(self, index: int) -> dict[str, JSONValue]:
        """Return the agenda values of outcome ``index``.

        Raises:
            ConfigurationError: If ``index`` is outside the space.
        """
        if not 0 <= index < self.n_outcomes:
            raise ConfigurationError(f"index: {index} is outside 0..{self.n_outcomes - 1}")
        coords = np.unravel_index(index, self.shape)
        return {name: values[int(k)] for (name, values), k in zip(self.issues, coords, strict=True)}

    def index(self, values: Mapping[str, JSONValue]) -> int:
        """Return the outcome index of agenda values.

        Raises:
            ConfigurationError: Naming the issue that is missing or holds a value off the grid.
        """
        coords = []
        for name, grid in self.issues:
            if name not in values:
                raise ConfigurationError(f"values.{name}: missing")
            matches = [k for k, v in enumerate(grid) if v == values[name] and type(v) is type(values[name])]
            if not matches:
                matches = [k for k, v in enumerate(grid) if _same_number(v, values[name])]
            if not matches:
                raise ConfigurationError(f"values.{name}: {values[name]!r} is not on the grid")
            coords.append(matches[0])
        return int(np.ravel_multi_index(tuple(coords), self.shape))

    def outcomes(self) -> list[dict[str, JSONValue]]:
        """Return every outcome's values, in index order."""
        return [
            dict(zip([n for n, _ in self.issues], combo, strict=True))
            for combo in itertools.product(*(v for _, v in self.issues))
        ]


def _same_number(a: JSONValue, b: JSONValue) -> bool:
    numeric = (int, float)
    both = (
        isinstance(a, numeric)
        and isinstance(b, numeric)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )
    return both and float(a) == float(b)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Relayed:
    """A message as the mediator relayed it to this party.

    Attributes:
        message_id: The message's id (the author's command digest).
        author: The member who wrote it.
        kind: ``proposal``, ``counter_proposal``, ``answer``...
        body: Its body.
        in_reply_to: The message it answers, if any.
        verbatim: True for a verbatim forward (author's signature verified), False for a reframe.
        delivery: The delivery as leased (to receipt it).
    """

    message_id: str
    author: str
    kind: str
    body: Mapping[str, Any]
    in_reply_to: str | None
    verbatim: bool
    delivery: Mapping[str, Any] = field(repr=False)

    @property
    def accepts(self) -> bool:
        """True for an acceptance (an ``answer`` with ``accept: true``)."""
        return self.kind == "answer" and self.body.get("accept") is True


def _author_key(
    client: BackchannelClient, track: str, member: str, key_id: str, keys: dict[tuple[str, str], VerifyingKey]
) -> VerifyingKey:
    """The author's key from ``keys``, refreshed from the track's roster when it is not there yet."""
    if (member, key_id) not in keys:
        record = client.log.roster(track).member(member).key(key_id)
        if record is None:
            raise VerificationError(f"{member}: the roster holds no key {key_id}")
        keys[member, key_id] = VerifyingKey(record.ed25519)
    return keys[member, key_id]


def read_relayed(
    client: BackchannelClient,
    track: str,
    delivery: Mapping[str, Any],
    keys: dict[tuple[str, str], VerifyingKey] | None = None,
) -> Relayed:
    """Decode and check one delivery as the mediator relayed it.

    Args:
        client: The reading member's client.
        track: The track.
        delivery: One delivery as ``poll`` or ``lease`` returned it.
        keys: A cache of authors' keys, ``(member, key id) -> key``, filled from the roster on a miss
            (a reader answering many messages passes the same dict each time).

    Raises:
        VerificationError: If a verbatim forward's command does not hash to its message id or its
            signature does not verify under the author's key.
    """
    original = delivery.get("original")
    if original is not None:
        signed = SignedCommand.from_dict(original)
        if signed.digest.hex() != delivery["message_id"]:
            raise VerificationError(
                f"message {delivery['message_id']}: the relayed command has another digest"
            )
        signed.verify(_author_key(client, track, signed.member, signed.key_id, {} if keys is None else keys))
        body = signed.payload["body"]
        assert isinstance(body, dict)
        inner, reply = body.get("body"), body.get("in_reply_to")
        return Relayed(
            delivery["message_id"],
            signed.member,
            str(body["kind"]),
            inner if isinstance(inner, dict) else {},
            reply if isinstance(reply, str) else None,
            verbatim=True,
            delivery=delivery,
        )
    outer = delivery["entry"]["signed"]["event"]["body"]
    reframed = outer.get("event", outer)  # the mediator's message.reframed: its own text
    return Relayed(
        delivery["message_id"],
        str(reframed.get("by", "")),
        str(reframed.get("kind", "")),
        reframed.get("body") or {},
        reframed.get("reframes"),
        verbatim=False,
        delivery=delivery,
    )


@dataclass(frozen=True)
class LiveOutcome:
    """How a live negotiation ended for the agent.

    Attributes:
        agreement: The agreed outcome index, or None.
        values: The agreed agenda values, or None.
        accepted_by: ``"agent"`` (the agent accepted) or ``"counterpart"``, or None.
        turns: How many relayed messages the agent answered.
        sent: The message ids the agent sent, in order.
    """

    agreement: int | None
    values: dict[str, JSONValue] | None
    accepted_by: str | None
    turns: int
    sent: tuple[str, ...]


class LiveNegotiator:
    """One agent playing one member's party on a live track.

    The agent sees only ``utility`` (its own), its reserved value and the offers relayed to it.
    Relative time at the agent's ``k``-th answer is ``(k + 1) / (n_rounds + 1)``, as in the
    alternating-offers protocol; after ``n_rounds`` answers the agent stops (no agreement).
    """

    def __init__(  # noqa: PLR0913 - the member's connection, then the agent and its private view
        self,
        client: BackchannelClient,
        track: str,
        *,
        agent: Agent,
        codec: AgendaCodec,
        utility: NDArray[np.float64],
        reserved_value: float,
        n_rounds: int,
        rng: np.random.Generator,
        agenda_version: int = 1,
    ) -> None:
        """Start the agent on its private view.

        Args:
            client: The member's SDK client (it signs every command).
            track: The track.
            agent: The agent (started here).
            codec: Outcome indices <-> agenda values.
            utility: The party's utility per outcome index (private: never sent).
            reserved_value: The party's reserved value (private).
            n_rounds: The most relayed offers the agent answers.
            rng: The agent's random source.
            agenda_version: The ratified agenda version the offers are written against.

        Raises:
            ConfigurationError: If the utility array does not cover the codec's outcomes.
        """
        if np.asarray(utility).shape != (codec.n_outcomes,):
            raise ConfigurationError(f"utility: needs one value per outcome ({codec.n_outcomes})")
        if n_rounds < 1:
            raise ConfigurationError(f"n_rounds: must be >= 1 (got {n_rounds})")
        self.client = client
        self.track = track
        self.agent = agent
        self.codec = codec
        self.n_rounds = n_rounds
        self.agenda_version = agenda_version
        self.turns = 0
        self.sent: list[str] = []
        self._offers: dict[str, int] = {}  # our message id -> the outcome it offered
        self._keys: dict[tuple[str, str], VerifyingKey] = {}  # authors' keys, from the roster
        agent.start(AgentView.create(np.asarray(utility, dtype=np.float64), reserved_value, rng))

    def _time(self) -> float:
        return (self.turns + 1) / (self.n_rounds + 1)

    def _submit(self, kind: str, body: dict[str, JSONValue], in_reply_to: str | None) -> str:
        payload: dict[str, JSONValue] = {
            "kind": kind,
            "body": body,
            "priority": "routine",
            "in_reply_to": in_reply_to,
            "annexes": [],
            "agenda_version": self.agenda_version if kind in {"proposal", "counter_proposal"} else None,
        }
        result = self.client.execute("submit_message", payload, track=self.track)
        message_id = str(result["events"][0]["command_digest"])
        self.sent.append(message_id)
        return message_id

    def open(self) -> str:
        """Make the opening offer (a ``proposal``); return its message id."""
        offer = self.agent.propose(self._time())
        message_id = self._submit("proposal", {"values": self.codec.values(offer)}, None)
        self._offers[message_id] = offer
        return message_id

    def answer(self, message: Relayed) -> LiveOutcome | None:
        """Answer one relayed message; return the outcome if the negotiation ended with it."""
        if message.accepts:
            offered = self._offers.get(message.in_reply_to or "")
            if offered is None:
                return None  # an acceptance of something we did not offer: not an agreement
            return self._outcome(offered, "counterpart")
        if message.kind not in {"proposal", "counter_proposal"}:
            return None
        offer = self.codec.index(message.body.get("values") or {})
        t = self._time()
        self.turns += 1
        if self.agent.respond(offer, t):
            values = self.codec.values(offer)
            self._submit("answer", {"accept": True, "values": values}, message.message_id)
            return self._outcome(offer, "agent")
        if self.turns >= self.n_rounds:
            return LiveOutcome(None, None, None, self.turns, tuple(self.sent))
        counter = self.agent.propose(t)
        message_id = self._submit(
            "counter_proposal", {"values": self.codec.values(counter)}, message.message_id
        )
        self._offers[message_id] = counter
        return None

    def _outcome(self, index: int, by: str) -> LiveOutcome:
        return LiveOutcome(index, self.codec.values(index), by, self.turns, tuple(self.sent))

    def step(self, timeout: float = 10.0) -> LiveOutcome | None:
        """Read the inbox once (waiting up to ``timeout`` s), answer, receipt; return the end if reached."""
        deliveries = self.client.inbox.poll(self.track, timeout=timeout)
        ended: LiveOutcome | None = None
        for delivery in deliveries:
            if ended is None:
                ended = self.answer(read_relayed(self.client, self.track, delivery, self._keys))
        if deliveries:
            self.client.inbox.settle(self.track, deliveries)
        return ended


def relay_pending(mediator: BackchannelClient, track: str, parties: Sequence[str]) -> list[str]:
    """Forward every submission in the mediator's queue, verbatim, to every other party in ``parties``.

    Args:
        mediator: The mediator principal's client.
        track: The track.
        parties: The delegations taking part.

    Returns:
        The message ids forwarded, in queue order.
    """
    forwarded = []
    for delivery in mediator.inbox.lease(track):
        author = str(delivery["sender"])
        to = [p for p in parties if p != author]
        mediator.execute(
            "forward_message", {"message_id": delivery["message_id"], "to_parties": to}, track=track
        )
        forwarded.append(str(delivery["message_id"]))
    return forwarded
