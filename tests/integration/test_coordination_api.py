"""Multi-track coordination over HTTP (issue #12): a real server on 127.0.0.1, the SDK and the CLI.

The story of the issue: two tracks run by qatar, ``us-iran-nuclear`` and
``israel-hezbollah-ceasefire``, and qatar's coordination log ``coord-qatar``.
The Iran track depends on the ceasefire deal committing; usa's principal is
shared between them; the ceasefire meeting collides with the Iran session's
booking of that person (refused naming the holder, then queued); a deadlock
forms and is named; phasing resolves it; and the Iran track is unblocked when
the ceasefire deal commits, through the fact the service records.
"""

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from backchannel.api import create_app
from backchannel.cli.main import app as cli
from backchannel.cli.main import out as cli_out
from backchannel.demo.coordination import coordination_scene
from backchannel.demo.deals import example_deal
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair, write_key_file
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.export import verify_store
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

IRAN_TRACK = "us-iran-nuclear"
CEASEFIRE = "israel-hezbollah-ceasefire"
COORD = "coord-qatar"
PERSON = "person:usa/principal"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
QATAR_STAFF = pair(5, "qatar/staff")
LOG_KEY = SigningKey.from_seed(b"\x0a" * 32)


@dataclass
class Server:
    url: str
    clock: FakeClock
    store: SQLiteEventStore

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url, keys.name, keys, clock=self.clock, pinned_log_key=None, sleep=lambda _: None
        )


@contextlib.contextmanager
def serving(tmp_path: Path) -> Iterator[Server]:
    clock = FakeClock(datetime.now(UTC))  # the CLI signs with the real clock
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    tracks = TrackService(LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock), NODE, clock=clock)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        url = stack.enter_context(running(lambda url: create_app(tracks, public_origin=url, clock=clock)))
        yield Server(url, clock, store)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path) as server:
        for track in (IRAN_TRACK, CEASEFIRE):
            open_track(server, track, delegations=(USA, IRAN), agenda=True)
        open_track(server, COORD, delegations=(USA,), agenda=False)
        with server.client(QATAR) as qatar:
            qatar.execute(
                "enroll_member",
                {"new_member": QATAR_STAFF.name, "role": "delegate", "new_key": new_key(QATAR_STAFF)},
                track=COORD,
            )
        yield server


def open_track(server: Server, track: str, *, delegations: tuple[KeyPair, ...], agenda: bool) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        body = {
            "title": track,
            "principal_key": new_key(QATAR),
            "service_key": {**service_key, "expires_at": None},
        }
        qatar.execute("open_track", body, track=track)
        for principal in delegations:
            party = principal.name.partition("/")[0]
            admit = {
                "party": party,
                "kind": "delegation",
                "principal": principal.name,
                "principal_key": new_key(principal),
            }
            qatar.execute("admit_party", admit, track=track)
        if agenda:
            qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=track)
    if agenda:
        for principal in delegations:
            with server.client(principal) as client:
                ratify = {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}
                client.execute("ratify_agenda", ratify, track=track)


def problem(call: Callable[[], Any]) -> ProblemError:
    with pytest.raises(ProblemError) as e:
        call()
    return e.value


def types(result: dict[str, Any]) -> list[str]:
    return [e["type"] for e in result["events"]]


def test_the_issue_story_blocked_deadlocked_phased_and_unblocked(server: Server) -> None:
    at = server.clock.now().replace(microsecond=0) + timedelta(days=1)
    with server.client(QATAR) as qatar, server.client(QATAR_STAFF) as staff:
        coord = staff.coordination
        coord.declare_dependency(
            COORD,
            "iran-needs-ceasefire",
            waiter=IRAN_TRACK,
            on_track=CEASEFIRE,
            kind="deal_committed",
            ref="ceasefire-1",
        )
        coord.register_resource(COORD, PERSON, "person", capacity=1)
        coord.register_resource(COORD, "room:geneva", "room")
        session = coord.book(
            COORD,
            "iran-session",
            resource=PERSON,
            holder=IRAN_TRACK,
            start=at,
            end=at + timedelta(hours=3),
            priority=2,
        )
        assert session["events"][0]["status"] == "accepted"
        # the ceasefire meeting collides with the Iran session's hold of usa/principal: refused, naming it
        refused = problem(
            lambda: coord.book(
                COORD,
                "ceasefire-meeting",
                resource=PERSON,
                holder=CEASEFIRE,
                start=at + timedelta(hours=1),
                end=at + timedelta(hours=2),
                priority=5,
            )
        )
        assert refused.status == 409
        assert f"{PERSON} is held by {IRAN_TRACK} (booking iran-session" in refused.problem["detail"]
        queued = coord.book(
            COORD,
            "ceasefire-meeting",
            resource=PERSON,
            holder=CEASEFIRE,
            start=at + timedelta(hours=1),
            end=at + timedelta(hours=2),
            priority=5,
            queue=True,
        )
        assert types(queued) == ["coordination.resource_booked", "coordination.deadlock_detected"]
        found = queued["events"][1]
        assert found["cycle"] == (
            f"{CEASEFIRE} waits on {IRAN_TRACK} (needs {PERSON}, held by {IRAN_TRACK} (booking iran-session)); "
            f"{IRAN_TRACK} waits on {CEASEFIRE} (needs {CEASEFIRE}'s deal ceasefire-1 committed)"
        )
        status = qatar.coordination.status(COORD)
        (deadlock,) = status["deadlocks"]
        assert deadlock["cycle"] == found["cycle"]
        assert [s.split(":")[0] for s in deadlock["suggestions"]] == [
            "preempt the lower-priority hold",
            "split into phases",
            "move the meeting",
        ]
        assert status["blocked"] == [
            {
                "track": IRAN_TRACK,
                "waiters": [IRAN_TRACK],
                "reasons": [f"needs {CEASEFIRE}'s deal ceasefire-1 committed"],
            }
        ]
        (person,) = [r for r in status["resources"] if r["resource_id"] == PERSON]
        assert [b["booking_id"] for b in person["bookings"]] == ["iran-session"]
        assert [b["booking_id"] for b in person["queue"]] == ["ceasefire-meeting"]
        assert (person["saturated"], person["saturated_from"]) == (False, [at.isoformat()])  # its budget is 1
        # resolved by phasing: phase 1 of the Iran track goes ahead; only phase 2 waits on the ceasefire
        phased = coord.withdraw_dependency(
            COORD, "iran-needs-ceasefire", "phased: phase 1 proceeds without the ceasefire"
        )
        assert types(phased) == ["coordination.dependency_withdrawn", "coordination.deadlock_resolved"]
        coord.declare_dependency(
            COORD,
            "phase-2-needs-ceasefire",
            waiter=f"{IRAN_TRACK}#phase-2",
            on_track=CEASEFIRE,
            kind="deal_committed",
            ref="ceasefire-1",
        )
        status = qatar.coordination.status(COORD)
        assert status["deadlocks"] == []
        assert status["blocked"][0]["waiters"] == [f"{IRAN_TRACK}#phase-2"]
        # the ceasefire deal commits: the service records the fact, and the Iran track is unblocked
        qatar.deals.prepare(
            CEASEFIRE, example_deal("ceasefire-1"), server.clock.now() + timedelta(minutes=10)
        )
        with server.client(USA) as usa, server.client(IRAN) as iran:
            usa.deals.vote(CEASEFIRE, "ceasefire-1", vote=True)
            committed = iran.deals.vote(CEASEFIRE, "ceasefire-1", vote=True)
        assert types(committed) == ["deal.voted", "deal.committed"]
        status = qatar.coordination.status(COORD)
        assert status["blocked"] == []
        (met,) = [d for d in status["dependencies"] if d["status"] == "met"]
        assert met["evidence"] == {
            "track": CEASEFIRE,
            "log_index": committed["first_index"] + 1,
            "event_type": "deal.committed",
        }
        # the Iran session ends early: the ceasefire meeting gets the person
        cancelled = coord.cancel(COORD, "iran-session")
        assert cancelled["events"][0]["promoted"] == ["ceasefire-meeting"]
    for track in (COORD, CEASEFIRE, IRAN_TRACK):
        verify_store(server.store, track)
    book = replay(server.store, COORD).coordination
    assert book.dependencies["phase-2-needs-ceasefire"].status.value == "met"
    assert len(book.deadlocks) == 0


def test_a_dependency_on_an_outcome_already_logged_is_met_at_once(server: Server) -> None:
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        qatar.deals.prepare(
            CEASEFIRE, example_deal("ceasefire-1"), server.clock.now() + timedelta(minutes=10)
        )
        usa.deals.vote(CEASEFIRE, "ceasefire-1", vote=True)
        iran.deals.vote(CEASEFIRE, "ceasefire-1", vote=True)
        qatar.coordination.declare_dependency(
            COORD, "d1", waiter=IRAN_TRACK, on_track=CEASEFIRE, kind="deal_committed", ref="ceasefire-1"
        )
        assert qatar.coordination.status(COORD)["dependencies"][0]["status"] == "met"


def test_the_log_is_the_mediators_alone(server: Server) -> None:
    with server.client(USA) as usa:
        refused = problem(lambda: usa.coordination.register_resource(COORD, "room:doha", "room"))
        assert (
            "usa/principal (principal of delegation party usa) may not register a resource"
            in refused.problem["detail"]
        )
        hidden = problem(lambda: usa.coordination.status(COORD))
        assert hidden.status == 404
    with server.client(QATAR) as qatar:
        qatar.coordination.register_resource(COORD, "room:doha", "room")
        forged = problem(
            lambda: qatar.execute(
                "record_dependency_met",
                {
                    "dependency_id": "d1",
                    "evidence": {"track": CEASEFIRE, "log_index": 1, "event_type": "deal.committed"},
                },
                track=COORD,
            )
        )
        assert "may not record a dependency met: only a service" in forged.problem["detail"]
    with server.client(USA) as usa, server.client(QATAR) as qatar:
        seen = [e["signed"]["event"]["type"] for e in usa.log.events(COORD)]
        everything = [e["signed"]["event"]["type"] for e in qatar.log.events(COORD)]
    assert "coordination.resource_registered" in everything
    assert not [t for t in seen if t.startswith("coordination.")]  # a delegation sees none of the log


def test_the_cli_books_and_shows_the_deadlock(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_out, "width", 200)
    key = tmp_path / "qatar.key"
    write_key_file(key, QATAR)
    runner = CliRunner()

    def cli_run(*argv: str, code: int = 0) -> str:
        args = [*argv, "--server", server.url, "--key", str(key), "--track", COORD]
        result = runner.invoke(cli, args, env={"COLUMNS": "200"}, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    start = (server.clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00.000000Z")
    end = (server.clock.now() + timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:00:00.000000Z")
    assert "dependency declared: d1" in cli_run(
        "coord",
        "dependency",
        "add",
        "d1",
        "--waiter",
        IRAN_TRACK,
        "--on",
        CEASEFIRE,
        "--kind",
        "deal_committed",
        "--ref",
        "ceasefire-1",
    )
    assert "resource registered" in cli_run("coord", "resource", "add", PERSON, "--kind", "person")
    assert "accepted" in cli_run(
        "coord", "book", "b1", "--resource", PERSON, "--holder", IRAN_TRACK, "--start", start, "--end", end
    )
    refused = cli_run(
        "coord",
        "book",
        "b2",
        "--resource",
        PERSON,
        "--holder",
        CEASEFIRE,
        "--start",
        start,
        "--end",
        end,
        code=1,
    )
    assert f"held by {IRAN_TRACK}" in refused
    out = cli_run(
        "coord",
        "book",
        "b2",
        "--resource",
        PERSON,
        "--holder",
        CEASEFIRE,
        "--start",
        start,
        "--end",
        end,
        "--queue",
        "--priority",
        "3",
    )
    assert "queued behind b1" in out
    assert f"DEADLOCK: {CEASEFIRE} waits on {IRAN_TRACK}" in out
    shown = cli_run("coord", "status")
    assert IRAN_TRACK in shown
    assert f"needs {CEASEFIRE}'s deal ceasefire-1 committed" in shown
    assert "DEADLOCK" in shown
    assert "0/1 saturated from" in shown
    view = json.loads(cli_run("coord", "status", "--json"))
    assert view["deadlocks"][0]["nodes"] == [CEASEFIRE, IRAN_TRACK]
    cancelled = json.loads(cli_run("coord", "cancel", "b1", "--json"))
    assert [e["type"] for e in cancelled["events"]] == [
        "coordination.booking_cancelled",
        "coordination.deadlock_resolved",
    ]
    assert "no deadlock" in cli_run("coord", "status")
    assert "dependency withdrawn: d1" in cli_run(
        "coord", "dependency", "withdraw", "d1", "--reason", "phased"
    )


def test_the_demo_scene_plays_and_every_check_passes(tmp_path: Path) -> None:
    checks: list[tuple[str, str, bool, str]] = []
    with serving(tmp_path) as server:
        open_track(server, IRAN_TRACK, delegations=(USA, IRAN), agenda=True)
        with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
            console = Console(file=io.StringIO(), width=200)
            clients = {"qatar/principal": qatar, "usa/principal": usa, "iran/principal": iran}
            status = coordination_scene(
                console, IRAN_TRACK, clients,
                lambda party, what, ok, detail: checks.append((party, what, ok, detail)),
            )  # fmt: skip
        verify_store(server.store, "coord-qatar")
    assert [what for _, what, ok, _ in checks if not ok] == []
    assert len(checks) == 5
    assert status["blocked"] == []
    assert "DEADLOCK" in console.file.getvalue()


def test_a_member_who_stops_heart_beating_puts_its_bookings_at_risk(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = server.clock.now().replace(microsecond=0) + timedelta(hours=1)
    with server.client(QATAR) as qatar, server.client(USA) as usa:
        coord = qatar.coordination
        coord.register_resource(COORD, PERSON, "person", capacity=1)
        coord.register_resource(COORD, "room:geneva", "room")
        for booking, resource, start in (
            ("usa-session", PERSON, at),
            ("usa-later", PERSON, at + timedelta(days=1)),
            ("room-session", "room:geneva", at),
        ):
            coord.book(
                COORD,
                booking,
                resource=resource,
                holder=IRAN_TRACK,
                start=start,
                end=start + timedelta(hours=2),
            )
        coord.book(
            COORD,
            "usa-queued",
            resource=PERSON,
            holder=CEASEFIRE,
            start=at,
            end=at + timedelta(hours=1),
            queue=True,
        )

        def bookings() -> dict[str, dict[str, Any]]:
            view = qatar.coordination.status(COORD)
            return {b["booking_id"]: b for r in view["resources"] for b in r["bookings"] + r["queue"]}

        assert not any(b["at_risk"] for b in bookings().values())  # never seen is not offline
        usa.inbox.heartbeat(IRAN_TRACK)
        beat = server.clock.now()
        server.clock.advance(timedelta(seconds=60))  # within the 90 s window: online
        assert not any(b["at_risk"] for b in bookings().values())
        server.clock.advance(timedelta(seconds=60))  # it stopped heart-beating: silent on the Iran track
        shown = bookings()
        since = (beat + timedelta(seconds=90)).isoformat()
        reason = f"usa/principal offline since {since} (silent on {IRAN_TRACK})"
        assert {k: b["at_risk_reason"] for k, b in shown.items() if b["at_risk"]} == {
            "usa-session": reason,
            "usa-later": reason,
            "usa-queued": reason,
        }
        assert shown["room-session"]["at_risk_reason"] is None
        usa.inbox.heartbeat(IRAN_TRACK)  # back online
        assert not any(b["at_risk"] for b in bookings().values())
    # the CLI shows it too, in Rich and in --json
    server.clock.advance(
        timedelta(seconds=91)
    )  # silent again (the CLI signs with the real clock: < 300 s off)
    monkeypatch.setattr(cli_out, "width", 200)
    key = tmp_path / "qatar.key"
    write_key_file(key, QATAR)
    args = ["coord", "status", "--server", server.url, "--key", str(key), "--track", COORD]
    runner = CliRunner()
    shown_cli = runner.invoke(cli, args, env={"COLUMNS": "200"}, catch_exceptions=False)
    assert shown_cli.exit_code == 0, shown_cli.output
    assert f"AT RISK usa-session ({PERSON}, {IRAN_TRACK}): usa/principal offline since" in shown_cli.output
    as_json = runner.invoke(cli, [*args, "--json"], env={"COLUMNS": "200"}, catch_exceptions=False)
    view = json.loads(as_json.output)
    risky = sorted(
        b["booking_id"] for r in view["resources"] for b in r["bookings"] + r["queue"] if b["at_risk"]
    )
    assert risky == ["usa-later", "usa-queued", "usa-session"]
