"""The live-track bridge against a real server on 127.0.0.1: a bot delegation negotiates with a
scripted delegation, every message relayed by a mediator script, every command signed."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from backchannel.api import create_app
from backchannel.errors import ConfigurationError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.negotiation.agents import boulware, conceder, hardliner
from backchannel.negotiation.bridge import AgendaCodec, LiveNegotiator, read_relayed, relay_pending
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA, opening, seeded_keys

TRACK = "doha-bot-talks"
LOG_KEY = SigningKey.from_seed(b"\x0b" * 32)
NODE = seeded_keys(21, "qatar/service")
QATAR = seeded_keys(22, "qatar/principal")
USA = seeded_keys(23, "usa/principal")
IRAN = seeded_keys(24, "iran/principal")
PARTIES = ("usa", "iran")
CAPS = (2.0, 3.67, 5.0, 10.0, 20.0)
CODEC = AgendaCodec.from_agenda(SMALL_AGENDA, {"enrichment_cap_pct": CAPS})
RELIEF = ("none", "tier-1", "full")


def utility(cap_weight, cap_scores, relief_scores):
    return np.array([cap_weight * c + (1 - cap_weight) * r for c in cap_scores for r in relief_scores])


# the usa bot wants a low cap and little relief; iran the opposite (private to each side)
USA_U = utility(0.6, [1.0, 0.8, 0.6, 0.3, 0.0], [1.0, 0.5, 0.0])
IRAN_U = utility(0.5, [0.0, 0.3, 0.6, 0.8, 1.0], [0.0, 0.6, 1.0])


@dataclass
class Server:
    url: str
    writer: LogWriter

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url, keys.name, keys, pinned_log_key=self.writer.log_key, sleep=lambda _: None
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY))
    try:
        with running(lambda url: create_app(TrackService(writer, NODE), public_origin=url)) as url:
            live = Server(url, writer)
            for signer, command, body in opening(QATAR, NODE, [USA, IRAN]):
                with live.client(signer) as client:
                    client.execute(command, body, track=TRACK)
            yield live
    finally:
        store.close()


class ScriptedIran:
    """The scripted delegation: concedes along a fixed list; accepts an offer worth at least its bar."""

    script = ((20.0, "full"), (10.0, "full"), (10.0, "tier-1"), (5.0, "tier-1"), (5.0, "none"))

    def __init__(self, client, bars):
        self.client = client
        self.bars = bars
        self.turn = 0
        self.accepted = None
        self.received = []

    def step(self):
        deliveries = self.client.inbox.poll(TRACK, timeout=5)
        messages = [read_relayed(self.client, TRACK, d) for d in deliveries]
        self.client.inbox.settle(TRACK, deliveries)
        for message in messages:
            self.received.append(message)
            if message.accepts:
                return "accepted-by-bot"
            offer = CODEC.index(message.body["values"])
            if IRAN_U[offer] >= self.bars[min(self.turn, len(self.bars) - 1)]:
                self.accepted = offer
                self.submit("answer", {"accept": True, "values": CODEC.values(offer)}, message.message_id)
                return "accepted-by-iran"
            cap, relief = self.script[min(self.turn, len(self.script) - 1)]
            self.turn += 1
            self.submit(
                "counter_proposal",
                {"values": {"enrichment_cap_pct": cap, "sanctions_relief": relief}},
                message.message_id,
            )
        return None

    def submit(self, kind, body, in_reply_to):
        self.client.execute("submit_message", {
            "kind": kind, "body": body, "priority": "routine", "in_reply_to": in_reply_to, "annexes": [],
            "agenda_version": 1 if kind in {"proposal", "counter_proposal"} else None,
        }, track=TRACK)  # fmt: skip


def negotiate(server, agent, bars, n_rounds=8):
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        bot = LiveNegotiator(
            usa,
            TRACK,
            agent=agent,
            codec=CODEC,
            utility=USA_U,
            reserved_value=0.2,
            n_rounds=n_rounds,
            rng=np.random.default_rng(0),
        )
        script = ScriptedIran(iran, bars)
        bot.open()
        outcome = None
        for _ in range(2 * n_rounds + 2):  # bounded
            assert relay_pending(qatar, TRACK, PARTIES)  # the mediator relays each message
            if script.step() == "accepted-by-bot":
                break
            assert relay_pending(qatar, TRACK, PARTIES)
            outcome = bot.step(timeout=5)
            if outcome is not None:
                if outcome.accepted_by == "agent":  # the mediator relays the acceptance to iran too
                    assert relay_pending(qatar, TRACK, PARTIES)
                    assert script.step() == "accepted-by-bot"
                break
        leftovers = {
            "usa": usa.inbox.lease(TRACK),
            "iran": iran.inbox.lease(TRACK),
            "qatar": qatar.inbox.lease(TRACK),
        }
        return bot, script, outcome, leftovers, usa.log.events(TRACK)


def test_a_bot_concedes_and_accepts_the_scripted_sides_offer(server) -> None:
    bot, script, outcome, leftovers, events = negotiate(server, conceder(), bars=[1.1] * 10)
    assert outcome is not None
    assert outcome.accepted_by == "agent"
    assert outcome.agreement is not None
    assert outcome.values == CODEC.values(outcome.agreement)
    assert USA_U[outcome.agreement] >= 0.2  # never below the bot's reserved value
    # the bot's acceptance is the last thing it sent, and it is in the log as an answer
    types = [e["signed"]["event"]["type"] for e in events]
    assert types.count("message.submitted") == len(bot.sent)
    assert leftovers == {"usa": [], "iran": [], "qatar": []}  # everything relayed and receipted
    # iran read every bot message verbatim, with usa's signature verified
    assert [m.message_id for m in script.received] == bot.sent
    assert script.received[-1].accepts
    assert all(m.verbatim and m.author == "usa/principal" for m in script.received)


def test_the_scripted_side_accepts_the_bots_offer_and_the_bot_learns_it_through_the_mediator(server) -> None:
    _, script, outcome, leftovers, _ = negotiate(server, boulware(), bars=[1.1, 1.1, 0.0])
    assert script.accepted is not None
    assert outcome is not None
    assert outcome.accepted_by == "counterpart"
    assert outcome.agreement == script.accepted
    assert outcome.values == CODEC.values(script.accepted)
    assert leftovers == {"usa": [], "iran": [], "qatar": []}


def test_a_hardliner_bot_stops_after_its_round_limit(server) -> None:
    bot, _, outcome, _, _ = negotiate(server, hardliner(), bars=[1.1] * 10, n_rounds=3)
    assert outcome is not None
    assert outcome.agreement is None
    assert outcome.turns == 3
    assert len(bot.sent) == 3  # the opening offer and two counter-offers, all its best outcome
    assert len(set(bot._offers.values())) == 1


def test_a_tampered_relay_is_refused(server) -> None:
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        bot = LiveNegotiator(
            usa,
            TRACK,
            agent=boulware(),
            codec=CODEC,
            utility=USA_U,
            reserved_value=0.2,
            n_rounds=5,
            rng=np.random.default_rng(0),
        )
        bot.open()
        relay_pending(qatar, TRACK, PARTIES)
        (delivery,) = iran.inbox.poll(TRACK, timeout=5)
        assert read_relayed(iran, TRACK, delivery).verbatim
        forged = {
            **delivery,
            "original": {
                **delivery["original"],
                "payload": {**delivery["original"]["payload"], "nonce": "forged-nonce"},
            },
        }
        with pytest.raises(VerificationError, match="another digest"):
            read_relayed(iran, TRACK, forged)
        other = usa.sign("submit_message", delivery["original"]["payload"]["body"], track=TRACK).to_dict()
        resigned = {
            **delivery,
            "message_id": other and delivery["message_id"],
            "original": {**delivery["original"], "sig": other["sig"]},
        }
        with pytest.raises(VerificationError):
            read_relayed(iran, TRACK, resigned)
        # signed by a key the roster never enrolled for usa/principal (an impostor)
        impostor = server.client(seeded_keys(99, "usa/principal"))
        fake = impostor.sign("submit_message", delivery["original"]["payload"]["body"], track=TRACK)
        impostor.close()
        claimed = {**delivery, "message_id": fake.digest.hex(), "original": fake.to_dict()}
        keys = {}
        with pytest.raises(VerificationError, match="the roster holds no key"):
            read_relayed(iran, TRACK, claimed, keys)
        assert read_relayed(iran, TRACK, delivery, keys).author == "usa/principal"
        assert list(keys) == [("usa/principal", delivery["original"]["payload"]["key_id"])]


def test_codec_maps_indices_to_agenda_values_and_back() -> None:
    assert CODEC.shape == (5, 3)
    assert CODEC.n_outcomes == 15
    assert CODEC.values(0) == {"enrichment_cap_pct": 2.0, "sanctions_relief": "none"}
    assert CODEC.values(5) == {"enrichment_cap_pct": 3.67, "sanctions_relief": "full"}
    assert [CODEC.index(v) for v in CODEC.outcomes()] == list(range(15))
    assert (
        CODEC.index({"enrichment_cap_pct": 20, "sanctions_relief": "tier-1"}) == 13
    )  # 20 == 20.0 on the wire
    with pytest.raises(ConfigurationError, match=r"values\.sanctions_relief: missing"):
        CODEC.index({"enrichment_cap_pct": 2.0})
    with pytest.raises(ConfigurationError, match=r"values\.enrichment_cap_pct: 7.5 is not on the grid"):
        CODEC.index({"enrichment_cap_pct": 7.5, "sanctions_relief": "none"})
    with pytest.raises(ConfigurationError, match="index"):
        CODEC.values(15)
    with pytest.raises(ConfigurationError, match=r"grids\.enrichment_cap_pct: a number issue needs a grid"):
        AgendaCodec.from_agenda(SMALL_AGENDA)
    with pytest.raises(ConfigurationError, match=r"grids\.enrichment_cap_pct\[1\]: 95 does not fit"):
        AgendaCodec.from_agenda(SMALL_AGENDA, {"enrichment_cap_pct": [3, 95]})
    with pytest.raises(ConfigurationError, match="distinct"):
        AgendaCodec((("a", (1, 1)),))
    with pytest.raises(ConfigurationError, match="at least one issue"):
        AgendaCodec(())
    assert agenda_digest(SMALL_AGENDA)  # the agenda the codec was built from is the ratified one


def test_the_bot_checks_its_private_view(server) -> None:
    with server.client(USA) as usa:
        with pytest.raises(ConfigurationError, match="utility"):
            LiveNegotiator(
                usa,
                TRACK,
                agent=boulware(),
                codec=CODEC,
                utility=USA_U[:3],
                reserved_value=0.2,
                n_rounds=5,
                rng=np.random.default_rng(0),
            )
        with pytest.raises(ConfigurationError, match="n_rounds"):
            LiveNegotiator(
                usa,
                TRACK,
                agent=boulware(),
                codec=CODEC,
                utility=USA_U,
                reserved_value=0.2,
                n_rounds=0,
                rng=np.random.default_rng(0),
            )


def test_the_bot_answers_a_reframed_counter_and_ignores_statements(server) -> None:
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        bot = LiveNegotiator(
            usa,
            TRACK,
            agent=conceder(),
            codec=CODEC,
            utility=USA_U,
            reserved_value=0.2,
            n_rounds=5,
            rng=np.random.default_rng(0),
        )
        bot.open()
        relay_pending(qatar, TRACK, PARTIES)
        (delivery,) = iran.inbox.poll(TRACK, timeout=5)
        iran.inbox.settle(TRACK, [delivery])
        script = ScriptedIran(iran, [1.1])
        script.submit("statement", {"text": "we need relief first"}, None)
        script.submit(
            "counter_proposal",
            {"values": {"enrichment_cap_pct": 20.0, "sanctions_relief": "full"}},
            delivery["message_id"],
        )
        statement, counter = qatar.inbox.lease(TRACK)
        qatar.execute(
            "forward_message", {"message_id": statement["message_id"], "to_parties": ["usa"]}, track=TRACK
        )
        softened = {"enrichment_cap_pct": 5.0, "sanctions_relief": "none"}  # the mediator's reframing
        qatar.execute("reframe_message", {
            "message_id": counter["message_id"], "to_parties": ["usa"], "body": {"values": softened},
            "annexes": [], "agenda_version": 1,
        }, track=TRACK)  # fmt: skip
        deliveries = usa.inbox.poll(TRACK, timeout=5)
        relayed = [read_relayed(usa, TRACK, d) for d in deliveries]
        assert [(m.kind, m.verbatim) for m in relayed] == [("statement", True), ("counter_proposal", False)]
        assert relayed[1].body == {"values": {"enrichment_cap_pct": 5, "sanctions_relief": "none"}}
        assert bot.answer(relayed[0]) is None  # a statement is not an offer
        outcome = bot.answer(relayed[1])  # the reframed offer suits the conceding bot: it accepts
        assert outcome is not None
        assert outcome.accepted_by == "agent"
        assert outcome.values == softened
        assert bot.turns == 1
        usa.inbox.settle(TRACK, deliveries)
        # an acceptance of something the bot never offered is not an agreement
        fake = type(relayed[1])(
            "x" * 64, "iran/principal", "answer", {"accept": True}, "y" * 64, verbatim=True, delivery={}
        )
        assert bot.answer(fake) is None


def test_codec_for_boolean_and_narrowed_choice_issues() -> None:
    from backchannel.domain import Agenda
    from backchannel.domain.agenda import BooleanIssue, ChoiceIssue

    agenda = Agenda(1, (BooleanIssue("inspections"), ChoiceIssue("relief", ("none", "tier-1", "full"))))
    codec = AgendaCodec.from_agenda(agenda, {"relief": ["none", "full"]})
    assert codec.issues == (("inspections", (False, True)), ("relief", ("none", "full")))
    assert codec.values(3) == {"inspections": True, "relief": "full"}
    assert codec.index({"inspections": False, "relief": "full"}) == 1


def test_codec_from_an_enumerated_outcome_space() -> None:
    from backchannel.domain import Agenda
    from backchannel.domain.agenda import ChoiceIssue, NumberIssue
    from backchannel.negotiation.space import OutcomeSpace

    agenda = Agenda(1, (NumberIssue("cap", "%", 2, 5, 1.5), ChoiceIssue("relief", ("none", "full"))))
    space = OutcomeSpace.from_agenda(agenda)
    codec = AgendaCodec.from_space(space)
    assert codec.shape == space.shape
    assert [
        codec.index(dict(zip(space.names, space.outcome(i), strict=True))) for i in range(space.n_outcomes)
    ] == list(range(space.n_outcomes))
