"""Staged deals and commitments over HTTP: a real uvicorn server on 127.0.0.1, the SDK, the CLI, a fake clock.

The world: mediator qatar, delegations usa (principal, delegate, observer) and
iran, inspector iaea; the agenda (SMALL_AGENDA) ratified. Clients sign with the
server's FakeClock, so deadlines pass when the test says so.
"""

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from backchannel.api import create_app
from backchannel.cli.deals import parse_deadline
from backchannel.cli.main import app as cli
from backchannel.cli.main import out as cli_out
from backchannel.demo.deals import example_deal, full_relief_deal, play_deals
from backchannel.domain.agreements.deals import DealDeadlineError
from backchannel.errors import EncodingError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, CommitmentSecret, ProblemError, deal_hash
from backchannel.service.deals import DealService, resolution_key
from backchannel.service.export import verify_store
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-deals"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
USA_DELEGATE = pair(5, "usa/delegate")
USA_OBSERVER = pair(6, "usa/observer")
IAEA = pair(7, "iaea/principal")
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)


@dataclass
class Server:
    url: str
    clock: FakeClock
    store: SQLiteEventStore
    tracks: TrackService

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url, keys.name, keys, clock=self.clock, pinned_log_key=None, sleep=lambda _: None
        )


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    stops: list[Callable[[], None]] = []

    def _start(*, tick_interval: float | None = None, start_at: datetime | None = None) -> Server:
        clock = FakeClock(start_at or datetime(2026, 1, 1, tzinfo=UTC))
        store = SQLiteEventStore(tmp_path / f"db{len(stops)}.sqlite3")
        writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
        tracks = TrackService(writer, NODE, clock=clock)
        stack = contextlib.ExitStack()
        stack.callback(store.close)  # after the server stops
        url = stack.enter_context(
            running(
                lambda url: create_app(tracks, public_origin=url, clock=clock, tick_interval=tick_interval),
                lifespan=tick_interval is not None,
            )
        )
        stops.append(stack.close)
        server = Server(url, clock, store, tracks)
        build(server)
        return server

    yield _start
    for stop in stops:
        stop()


def build(server: Server) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute(
            "open_track",
            {
                "title": "Doha",
                "principal_key": new_key(QATAR),
                "service_key": {**service_key, "expires_at": None},
            },
            track=TRACK,
        )
        for party, principal, kind in (
            ("usa", USA, "delegation"),
            ("iran", IRAN, "delegation"),
            ("iaea", IAEA, "inspector"),
        ):
            qatar.execute(
                "admit_party",
                {
                    "party": party,
                    "kind": kind,
                    "principal": principal.name,
                    "principal_key": new_key(principal),
                },
                track=TRACK,
            )
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    with server.client(USA) as usa:
        for member, role in ((USA_DELEGATE, "delegate"), (USA_OBSERVER, "observer")):
            usa.execute(
                "enroll_member",
                {"new_member": member.name, "role": role, "new_key": new_key(member)},
                track=TRACK,
            )
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


def problem(call: Callable[[], Any]) -> ProblemError:
    with pytest.raises(ProblemError) as e:
        call()
    return e.value


def test_prepare_vote_commit_and_read(start) -> None:
    server = start()
    deal = example_deal()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        result = qatar.deals.prepare(TRACK, deal, server.clock.now() + timedelta(minutes=10))
        (prepared,) = result["events"]
        assert prepared["type"] == "deal.prepared"
        assert prepared["deal_hash"] == deal_hash(deal)
        assert prepared["voters"] == ["iran/principal", "usa/principal"]
        view = usa.deals.get(TRACK, "doha-phase-1")
        assert (view["status"], view["missing"], view["votes"]) == (
            "preparing",
            ["iran/principal", "usa/principal"],
            [],
        )
        assert [e["type"] for e in usa.deals.vote(TRACK, "doha-phase-1", vote=True)["events"]] == [
            "deal.voted"
        ]
        last = iran.deals.vote(TRACK, "doha-phase-1", vote="yes")
        assert [e["type"] for e in last["events"]] == ["deal.voted", "deal.committed"]
        assert (
            last["first_index"] + 1 == qatar.log.checkpoint(TRACK).size - 1
        )  # both in one append, the last two
        view = qatar.deals.get(TRACK, "doha-phase-1")
        assert view["status"] == "committed"
        assert view["outcome"]["status"] == "committed"
        assert [v["member"] for v in view["votes"]] == ["iran/principal", "usa/principal"]
        assert qatar.deals.list_all(TRACK) == [
            {
                "deal_id": "doha-phase-1",
                "title": deal["title"],
                "status": "committed",
                "revision": 1,
                "deadline": view["deadline"],
            },
        ]
        # a retried vote with a fresh signature is a no-op; a changed vote is refused
        assert iran.deals.vote(TRACK, "doha-phase-1", vote=True)["replayed"] is True
        refused = problem(lambda: iran.deals.vote(TRACK, "doha-phase-1", vote=False))
        assert (refused.status, refused.type.rsplit("/", 1)[1]) == (409, "deal-state")
    verify_store(server.store, TRACK)
    assert replay(server.store, TRACK).deal("doha-phase-1").status.value == "committed"


def test_a_no_aborts_and_lists_the_compensations(start) -> None:
    server = start()
    deal = full_relief_deal()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        qatar.deals.prepare(TRACK, deal, server.clock.now() + timedelta(minutes=10))
        usa.deals.vote(TRACK, deal["id"], vote=True)
        result = iran.deals.vote(TRACK, deal["id"], vote=False)
        assert [e["type"] for e in result["events"]] == ["deal.voted", "deal.aborted"]
        view = usa.deals.get(TRACK, deal["id"])
        outcome = view["outcome"]
        assert (view["status"], outcome["reason"], outcome["detail"]) == (
            "aborted",
            "vote_no",
            "iran/principal voted NO on deal doha-full-relief",
        )
        assert [(c["phase"], c["step"], c["party"], c["rollback"]) for c in outcome["compensations"]] == [
            (1, 1, "usa", "void"),
            (1, 2, "iran", "void"),
        ]


def test_a_vote_on_another_hash_aborts_and_bad_votes_append_nothing(start) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(USA_DELEGATE) as delegate:
        qatar.deals.prepare(TRACK, example_deal(), server.clock.now() + timedelta(minutes=10))
        size = server.store.size(TRACK)
        refused = problem(lambda: delegate.deals.vote(TRACK, "doha-phase-1", vote=True))
        assert (refused.status, refused.type.rsplit("/", 1)[1]) == (403, "not-authorized")
        refused = problem(lambda: qatar.deals.vote(TRACK, "doha-phase-1", vote=True, deal_hash="00" * 32))
        assert refused.status == 403
        refused = problem(lambda: usa.deals.vote(TRACK, "nope", vote=True, deal_hash="00" * 32))
        assert (refused.status, refused.type.rsplit("/", 1)[1]) == (422, "unknown-deal")
        assert server.store.size(TRACK) == size
        result = usa.deals.vote(TRACK, "doha-phase-1", vote=True, deal_hash="ab" * 32)
        assert [e["type"] for e in result["events"]] == ["deal.voted", "deal.aborted"]
        assert result["events"][1]["reason"] == "hash_mismatch"
        assert usa.deals.get(TRACK, "doha-phase-1")["votes"][0]["deal_hash"] == "ab" * 32


def test_terms_that_break_the_agenda_are_refused_field_by_field(start) -> None:
    server = start()
    deal = example_deal("bad")
    deal["phases"][0][0]["quantity"] = {"value": 95, "unit": "percent"}  # type: ignore[index]
    deal["phases"][0][1]["party"] = "iaea"  # type: ignore[index]
    with server.client(QATAR) as qatar:
        size = server.store.size(TRACK)
        refused = problem(lambda: qatar.deals.prepare(TRACK, deal, server.clock.now() + timedelta(minutes=1)))
        assert (refused.status, refused.type.rsplit("/", 1)[1]) == (422, "schema-violation")
        assert {(v["field"], v["rule"]) for v in refused.problem["violations"]} == {
            ("phases.0.0.quantity.unit", "unit"),
            ("phases.0.0.quantity.value", "maximum"),
            ("phases.0.1.party", "delegation"),
        }
        late = problem(
            lambda: qatar.deals.prepare(TRACK, example_deal(), server.clock.now() - timedelta(seconds=1))
        )
        assert (late.status, late.type.rsplit("/", 1)[1]) == (409, "deal-deadline")
        assert server.store.size(TRACK) == size


def test_the_deadline_refuses_late_votes_and_the_tick_aborts_once(start) -> None:
    server = start()
    deals = DealService(server.tracks, NODE, clock=server.clock)
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        qatar.deals.prepare(TRACK, example_deal(), server.clock.now() + timedelta(seconds=30))
        usa.deals.vote(TRACK, "doha-phase-1", vote=True)
        assert deals.tick(TRACK) == []
        assert deals.next_deadline(TRACK) is not None
        server.clock.advance(timedelta(seconds=31))
        view = iran.deals.get(TRACK, "doha-phase-1")
        late = problem(lambda: iran.deals.vote(TRACK, "doha-phase-1", vote=True, deal_hash=view["deal_hash"]))
        assert (late.status, late.type.rsplit("/", 1)[1]) == (409, "deal-deadline")
        assert [r.deal_id for r in deals.due(TRACK)] == ["doha-phase-1"]
        assert deals.tick(TRACK) == ["doha-phase-1"]
        assert deals.tick(TRACK) == []  # not due any more: a re-tick logs nothing
        assert deals.next_deadline(TRACK) is None
        view = iran.deals.get(TRACK, "doha-phase-1")
        assert (view["outcome"]["reason"], view["outcome"]["missing"]) == ("deadline", ["iran/principal"])
    # a resolution that lost a race (the deal became final since it was found due) is ignored...
    assert deals._resolve(TRACK, "doha-phase-1") is False  # the same signed command: a replay
    server.clock.advance(timedelta(seconds=1))
    assert deals._resolve(TRACK, "doha-phase-1") is False  # signed anew: refused, the deal is final
    # ...and one refused while the deal is still preparing is an error
    with server.client(QATAR) as qatar:
        qatar.deals.prepare(TRACK, example_deal("early"), server.clock.now() + timedelta(minutes=5))
    with pytest.raises(DealDeadlineError, match="is not reached"):
        deals._resolve(TRACK, "early")
    state = server.tracks.state(TRACK)
    assert state is not None
    key = resolution_key(TRACK, "doha-phase-1")
    assert state.idempotent_result(state.service_member, key) is not None
    replay(server.store, TRACK)
    assert deals.due("no-such-track") == []
    assert deals.next_deadline("no-such-track") is None


def test_the_lifespan_ticker_resolves_deadlines(start) -> None:
    server = start(tick_interval=0.05)
    with server.client(QATAR) as qatar:
        qatar.deals.prepare(TRACK, example_deal(), server.clock.now() + timedelta(seconds=5))
        server.clock.advance(timedelta(seconds=6))
        deadline = time.monotonic() + 10
        while qatar.deals.get(TRACK, "doha-phase-1")["status"] != "aborted":
            assert time.monotonic() < deadline, "the ticker did not resolve the deal"
            time.sleep(0.05)


def test_who_may_read_a_deal(start) -> None:
    server = start()
    with server.client(QATAR) as qatar:
        qatar.deals.draft(TRACK, example_deal())
    for keys in (QATAR, USA, USA_DELEGATE, USA_OBSERVER, IRAN):
        with server.client(keys) as client:
            assert client.deals.get(TRACK, "doha-phase-1")["status"] == "drafted"
            assert [d["deal_id"] for d in client.deals.list_all(TRACK)] == ["doha-phase-1"]
    with server.client(IAEA) as iaea:
        hidden = problem(lambda: iaea.deals.get(TRACK, "doha-phase-1"))
        unknown = problem(lambda: iaea.deals.get(TRACK, "never-drafted"))
        assert hidden.status == unknown.status == 404
        assert hidden.problem["detail"].replace("doha-phase-1", "never-drafted") == unknown.problem["detail"]
        assert iaea.deals.list_all(TRACK) == []
        assert not [e for e in iaea.log.events(TRACK) if e["signed"]["event"]["type"].startswith("deal.")]


def test_the_sdk_checks_the_services_hash(start, monkeypatch) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa:
        qatar.deals.prepare(TRACK, example_deal(), server.clock.now() + timedelta(minutes=10))
        real = BackchannelClient.get_json

        def lying(self, path, **params):
            answer = real(self, path, **params)
            if "/deals/" in path:
                answer["deal"]["title"] = "something else"
            return answer

        monkeypatch.setattr(BackchannelClient, "get_json", lying)
        with pytest.raises(VerificationError, match="the service's hash is not the hash of its terms"):
            usa.deals.vote(TRACK, "doha-phase-1", vote=True)


def test_commitments_publish_then_reveal(start) -> None:
    server = start()
    with server.client(IRAN) as iran, server.client(USA) as usa:
        secret = iran.deals.publish_commitment(TRACK, "next steps agreed", "a second round in Muscat")
        assert len(secret.salt) == 32
        assert CommitmentSecret.from_dict(secret.to_dict()) == secret
        with pytest.raises(EncodingError, match="not a commitment secret"):
            CommitmentSecret.from_dict({"track": TRACK})
        size = server.store.size(TRACK)
        wrong = CommitmentSecret(TRACK, secret.commitment_id, secret.label, secret.salt, "a third round")
        refused = problem(lambda: iran.deals.reveal_commitment(wrong))
        assert (refused.status, refused.type.rsplit("/", 1)[1]) == (422, "commitment-mismatch")
        other = problem(lambda: usa.deals.reveal_commitment(secret))
        assert other.status == 403
        assert server.store.size(TRACK) == size
        (revealed,) = iran.deals.reveal_commitment(secret)["events"]
        assert (revealed["type"], revealed["content"]) == ("commitment.revealed", "a second round in Muscat")
        again = problem(lambda: iran.deals.reveal_commitment(secret))
        assert (again.status, again.type.rsplit("/", 1)[1]) == (409, "commitment-state")
        seen = [e["signed"]["event"]["type"] for e in usa.log.events(TRACK)]
        assert seen.count("commitment.published") == seen.count("commitment.revealed") == 1


def test_the_demo_part_plays(start) -> None:
    server = start()
    console = Console(record=True, width=160)
    checks: list[tuple[str, bool, str]] = []
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        played = play_deals(
            console,
            qatar,
            [usa, iran],
            TRACK,
            check=lambda what, ok, detail: checks.append((what, ok, detail)),
        )
    assert all(ok for _, ok, _ in checks), checks
    assert [what for what, _, _ in checks] == [
        "deal doha-phase-1 committed by every principal's YES",
        "deal doha-full-relief aborted by iran/principal's NO and rolled back",
        "a mismatched reveal is refused",
        "commitment revealed and verified",
    ]
    assert played["committed"]["status"] == "committed"
    assert played["aborted"]["status"] == "aborted"
    text = console.export_text()
    assert "sanctions relief" in text
    assert "void" in text
    assert "compensations: 2 step(s) void" in text


def test_deadlines_parse() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_deadline("+90s", now) == now + timedelta(seconds=90)
    assert parse_deadline("+10m", now) == now + timedelta(minutes=10)
    assert parse_deadline("+1.5h", now) == now + timedelta(minutes=90)
    assert parse_deadline("+2d", now) == now + timedelta(days=2)
    assert parse_deadline("2026-05-01T13:00:00Z") == now + timedelta(hours=1)
    with pytest.raises(EncodingError, match="neither"):
        parse_deadline("tomorrow")
    with pytest.raises(EncodingError, match="no time zone"):
        parse_deadline("2026-05-01T13:00:00")


def test_the_cli_drives_deals_and_commitments(start, tmp_path: Path, monkeypatch) -> None:
    server = start(start_at=datetime.now(UTC))  # the CLI signs with the real clock
    monkeypatch.setattr(cli_out, "width", 200)  # the console was sized when it was imported
    keys = {}
    for member in (QATAR, USA, IRAN):
        keys[member.name] = tmp_path / f"{member.name.replace('/', '-')}.key"
        write_key_file(keys[member.name], member)
    deal_file = tmp_path / "deal.json"
    deal_file.write_text(json.dumps(example_deal()))
    runner = CliRunner()

    def cli_run(member: str, *argv: str) -> str:
        args = [*argv, "--server", server.url, "--key", str(keys[member])]
        if argv[:2] != ("commit", "reveal"):
            args += ["--track", TRACK]
        result = runner.invoke(cli, args, env={"COLUMNS": "200"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    out = cli_run("qatar/principal", "deal", "prepare", str(deal_file), "--deadline", "+10m")
    assert "deal.prepared" in out
    assert f"deal hash: {deal_hash(example_deal())}" in out
    assert "deal.voted" in cli_run("usa/principal", "deal", "vote", "doha-phase-1", "--yes")
    assert "deal doha-phase-1 committed" in cli_run("iran/principal", "deal", "vote", "doha-phase-1", "--yes")
    shown = cli_run("usa/principal", "deal", "show", "doha-phase-1")
    assert "status: committed" in shown
    assert "cap uranium enrichment" in shown
    assert "↳ step:1.1" in shown
    listed = cli_run("iran/principal", "deal", "list")
    assert "doha-phase-1" in listed
    assert "committed" in listed
    second = tmp_path / "second.json"
    second.write_text(json.dumps(full_relief_deal()))
    cli_run("qatar/principal", "deal", "draft", str(second))
    cli_run("qatar/principal", "deal", "prepare", str(second), "--deadline", "+1h")
    assert "deal doha-full-relief aborted" in cli_run(
        "usa/principal", "deal", "vote", "doha-full-relief", "--no"
    )
    aborted = cli_run("qatar/principal", "deal", "show", "doha-full-relief")
    assert "vote_no: usa/principal voted NO" in aborted
    assert "compensations: 2 step(s) void" in aborted

    secret_file = tmp_path / "secret.json"
    out = cli_run(
        "iran/principal",
        "commit",
        "publish",
        "next steps agreed",
        "--content",
        "Muscat, 12 May",
        "--out",
        str(secret_file),
    )
    assert "commitment" in out
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(secret_file.read_text())["content"] == "Muscat, 12 May"
    assert "revealed: Muscat, 12 May" in cli_run(
        "iran/principal", "commit", "reveal", "--secret", str(secret_file)
    )

    refused = runner.invoke(
        cli,
        [
            "commit",
            "publish",
            "x",
            "--content",
            "y",
            "--out",
            str(secret_file),
            "--server",
            server.url,
            "--key",
            str(keys["iran/principal"]),
            "--track",
            TRACK,
        ],
    )
    assert refused.exit_code == 1
    assert "exists" in refused.output
    vote_again = runner.invoke(
        cli,
        [
            "deal",
            "vote",
            "doha-phase-1",
            "--no",
            "--server",
            server.url,
            "--key",
            str(keys["iran/principal"]),
            "--track",
            TRACK,
        ],
    )
    assert vote_again.exit_code == 1
    assert "a vote cannot change" in vote_again.output
