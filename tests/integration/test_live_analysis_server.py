"""Forecasts and the language aid on a live track, through the SDK and a real server on 127.0.0.1 (ADR-0045).

The mediator (``qatar``) declares actor positions privately, asks for a
forecast, shares it with one delegation; a later declaration makes it stale.
The language check is the mediator's alone and writes nothing to the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.api import create_app
from backchannel.language.drift import LexicalEmbedder
from backchannel.language.pipeline import LanguageAid
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.forecasts import LIVE_MODELS
from backchannel.service.language import LanguageService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import message_body, seeded_keys
from backchannel.testing.world import new_key_json as new_key

TRACK = "doha"
LOG_KEY = SigningKey.from_seed(b"\x0b" * 32)
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")

ISSUES: list[dict[str, Any]] = [
    {
        "issue": "enrichment_cap_pct",
        "reference": 5.0,
        "actors": [
            {"actor": "iran", "value": 60.0, "salience": 90, "capability": 1},
            {"actor": "usa", "value": 3.67, "salience": 80, "capability": 1.5},
            {"actor": "eu", "position": 10, "salience": 40, "capability": 1},
        ],
    },
    {
        "issue": "sanctions_relief",
        "actors": [
            {"actor": "iran", "position": 100, "salience": 95, "capability": 1},
            {"actor": "usa", "position": 0, "salience": 30, "capability": 1.5},
        ],
    },
]


def _lexical() -> LanguageAid:
    """The aid with the lexical drift measure: quick to load whether or not the model extra is installed."""
    return LanguageAid(embedder=LexicalEmbedder())


class Server:
    def __init__(self, url: str, clock: FakeClock, writer: LogWriter) -> None:
        self.url, self.clock, self.writer = url, clock, writer

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url,
            keys.name,
            keys,
            clock=self.clock,
            pinned_log_key=self.writer.log_key,
            sleep=lambda _: None,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock = FakeClock(datetime.now(UTC))  # near the wall clock: the CLI tests sign with it
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        url = stack.enter_context(
            running(
                lambda url: create_app(
                    tracks,
                    public_origin=url,
                    clock=clock,
                    tick_interval=None,
                    language=LanguageService(_lexical),
                )
            )
        )
        server = Server(url, clock, writer)
        _setup(server)
        yield server


def _setup(server: Server) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for principal in (USA, IRAN):
            qatar.execute("admit_party", {
                "party": principal.name.split("/")[0], "kind": "delegation", "principal": principal.name,
                "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            body = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
            client.execute("ratify_agenda", body, track=TRACK)


def _types(client: BackchannelClient) -> list[str]:
    return [e["signed"]["event"]["type"] for e in client.log.events(TRACK)]


def test_a_forecast_is_a_private_event_until_shared_and_stale_after_a_new_declaration(server: Server) -> None:
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        declared = qatar.forecasts.declare(TRACK, ISSUES)
        assert [e["type"] for e in declared["events"]] == ["forecast.positions_declared"]
        server.clock.advance(timedelta(minutes=5))
        answer = qatar.forecasts.request(TRACK)
        forecast = answer["forecast"]
        assert forecast["forecast_id"] == answer["forecast_id"]
        assert forecast["age_seconds"] == 0
        assert forecast["stale"] is False
        assert forecast["shared_with"] == []
        by_issue = {i["issue"]: i for i in forecast["issues"]}
        assert set(by_issue) == {"enrichment_cap_pct", "sanctions_relief"}
        assert set(by_issue["sanctions_relief"]["answers"]) == set(LIVE_MODELS)
        relief = by_issue["sanctions_relief"]
        assert relief["flagged"] is (relief["spread"] > 40)
        cap = by_issue["enrichment_cap_pct"]["answers"]
        assert 0 <= cap["compromise"] <= 100
        assert cap["reference_point"] == 5.0
        assert forecast["watermark"]["declarations"] == [declared["events"][0]["command_digest"]]

        # no party sees a declaration or an unshared forecast, nor may it ask or read positions
        for client in (usa, iran):
            assert client.forecasts.list(TRACK)["forecasts"] == []
            assert not [t for t in _types(client) if t.startswith("forecast.")]
        with pytest.raises(ProblemError, match="may not request a forecast") as refused:
            usa.forecasts.request(TRACK)
        assert refused.value.status == 403
        with pytest.raises(ProblemError, match="may not read the declared actor positions"):
            usa.forecasts.declarations(TRACK)
        assert qatar.forecasts.declarations(TRACK)["issues"][0]["actors"][0]["position"] == pytest.approx(
            60 / 90 * 100
        )

        qatar.forecasts.share(TRACK, answer["forecast_id"], ["usa"])
        server.clock.advance(timedelta(hours=2))
        (seen,) = usa.forecasts.list(TRACK)["forecasts"]
        assert (seen["forecast_id"], seen["age"], seen["stale"]) == (
            answer["forecast_id"],
            "2 h 0 min",
            False,
        )
        assert "shared_with" not in seen
        assert "forecast.recorded" in _types(usa)
        assert "forecast.positions_declared" not in _types(usa)
        assert iran.forecasts.list(TRACK)["forecasts"] == []

        later = qatar.forecasts.declare(TRACK, ISSUES[1:])
        (stale,) = usa.forecasts.list(TRACK)["forecasts"]
        assert stale["stale"] is True
        assert stale["stale_since"] is not None
        (mediator_view,) = qatar.forecasts.list(TRACK)["forecasts"]
        assert mediator_view["stale_because"] == {
            "declaration": later["events"][0]["command_digest"],
            "issues": ["sanctions_relief"],
        }


def test_declarations_are_checked_against_the_agenda_and_a_forecast_needs_them(server: Server) -> None:
    with server.client(QATAR) as qatar:
        with pytest.raises(ProblemError, match="no actor positions are declared"):
            qatar.forecasts.request(TRACK)
        bad = [
            {
                "issue": "no_such_issue",
                "actors": [{"actor": "iran", "position": 1, "salience": 1, "capability": 1}],
            },
            {
                "issue": "enrichment_cap_pct",
                "actors": [{"actor": "iran", "value": 95, "salience": 101, "capability": 1}],
            },
        ]
        with pytest.raises(ProblemError) as refused:
            qatar.forecasts.declare(TRACK, bad)
        assert refused.value.status == 422
        assert "issues.1.actors.0.salience" in str(refused.value.problem)
        bad[1]["actors"][0]["salience"] = 50
        with pytest.raises(ProblemError) as refused:
            qatar.forecasts.declare(TRACK, bad)
        fields = {v["field"] for v in refused.value.problem["violations"]}
        assert fields == {"issues.0.issue", "issues.1.actors.0.value"}


def test_the_language_check_is_the_mediator_s_and_logs_nothing(server: Server) -> None:
    with server.client(QATAR) as qatar, server.client(USA) as usa:
        threat = "This is an ultimatum: accept a cap of 3.67% by Friday or face the consequences."
        sent = usa.execute("submit_message", message_body("statement", {"text": threat}), track=TRACK)
        message_id = sent["events"][0]["command_digest"]  # a message id is its digest
        before = len(qatar.log.events(TRACK))

        document = qatar.language.check(TRACK, message_id=message_id, reframed="We propose a cap of 5% soon.")
        assert document["escalatory"] is True
        assert document["message_id"] == message_id
        assert document["codes"]
        assert document["drift"]["blocked"] is True
        assert document["drift"]["number_differences"]

        plain = qatar.language.check(TRACK, "We welcome the proposal and will study it.")
        assert plain["escalatory"] is False
        assert "drift" not in plain

        with pytest.raises(ProblemError, match="may not check a text with the language aid") as refused:
            usa.language.check(TRACK, threat)
        assert refused.value.status == 403
        with pytest.raises(ProblemError) as refused:
            qatar.language.check(TRACK)
        assert refused.value.status == 400
        with pytest.raises(ProblemError) as refused:
            qatar.language.check(TRACK, message_id="ab" * 32)
        assert refused.value.type.endswith("/unknown-message")
        assert len(qatar.log.events(TRACK)) == before
