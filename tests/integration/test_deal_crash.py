"""Crash test of the two-phase commit: ``kill -9`` the real ``backchannel serve`` between votes and after the last.

A real server subprocess (its own process group, as in ``test_crash.py``) holds
a track with three delegation principals (usa, iran, eu). The coordinator's
state is the log, so after every kill the data directory must say exactly
what was acknowledged: ``backchannel log verify`` passes, ``verify_store`` and
``replay`` pass, no deal is both committed and aborted, and each deal's
status is the one its logged events imply. After each restart the votes go on:

1. deal ``between``: kill after the first YES, again after the second, then
   after the last YES (acknowledged: committed in the same append as the vote);
   after the restart the same signed last vote is a replay and a changed vote
   is refused: commit is final;
2. deal ``in-doubt``: the last YES is in flight when the server is killed; the
   same signed command is re-sent after the restart until answered, and the
   deal is committed exactly once whichever side of the kill the vote fell;
3. deal ``lapsed``: its prepare deadline passes while the server is down; the
   first ticks after the restart abort it (reason ``deadline``), once.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_crash import CLI, Server, cli_env

from backchannel.domain.agreements.deals import DealStatus
from backchannel.log.records import format_timestamp
from backchannel.protocol.wire import SignedCommand
from backchannel.sdk import BackchannelClient, ProblemError, deal_hash
from backchannel.service.export import verify_store
from backchannel.service.tracks import replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "deal-crash"
QATAR = pair(2, "qatar/principal")
VOTERS = {"usa": pair(3, "usa/principal"), "iran": pair(4, "iran/principal"), "eu": pair(5, "eu/principal")}


def terms(deal_id: str) -> dict[str, Any]:
    step = {"issue": None, "quantity": {"value": 1, "unit": "tier"}, "conditions": []}
    return {
        "id": deal_id,
        "title": f"deal {deal_id}",
        "phases": [
            [{**step, "party": "iran", "action": "cap"}, {**step, "party": "usa", "action": "relieve"}]
        ],
    }


def vote_command(client: BackchannelClient, deal_id: str) -> SignedCommand:
    body = {"deal_id": deal_id, "deal_hash": deal_hash(terms(deal_id)), "vote": "yes"}
    return client.sign(
        "vote_deal", body, track=TRACK, idempotency_key=f"vote-{deal_id}-{client.member.replace('/', '.')}"
    )


def build_world(url: str, service_key: dict[str, Any]) -> None:
    with BackchannelClient(url, QATAR.name, QATAR) as qatar:
        qatar.execute(
            "open_track",
            {
                "title": "2PC crash test",
                "principal_key": new_key(QATAR),
                "service_key": {**service_key, "expires_at": None},
            },
            track=TRACK,
        )
        for party, principal in VOTERS.items():
            qatar.execute(
                "admit_party",
                {
                    "party": party,
                    "kind": "delegation",
                    "principal": principal.name,
                    "principal_key": new_key(principal),
                },
                track=TRACK,
            )


def prepare(url: str, deal_id: str, deadline: datetime) -> None:
    with BackchannelClient(url, QATAR.name, QATAR) as qatar:
        body = {"deal": terms(deal_id), "deadline": format_timestamp(deadline)}
        qatar.execute("prepare_deal", body, track=TRACK)


def send(url: str, party: str, signed: SignedCommand) -> dict[str, Any]:
    keys = VOTERS[party]
    with BackchannelClient(url, keys.name, keys, sleep=lambda _: None) as client:
        return client.send_command(signed)


def check_data_dir(data_dir: Path) -> dict[str, tuple[DealStatus, int]]:
    """With the server dead: the log verifies and replays; no deal is both; each status is what its events say."""
    cli = subprocess.run(
        [*CLI, "log", "verify", "--track", TRACK, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, f"log verify failed:\n{cli.stdout}\n{cli.stderr}"
    store = SQLiteEventStore(data_dir / "backchannel.sqlite3")
    try:
        verify_store(store, TRACK)
        state = replay(store, TRACK)
        outcomes: Counter[tuple[str, str]] = Counter()
        votes: Counter[str] = Counter()
        for stored in store.read(TRACK, 0, store.size(TRACK)):
            event = stored.decode().signed.event
            logged = event.body["event"] if isinstance(event.body, dict) and "event" in event.body else None
            if not isinstance(logged, dict):
                continue
            if event.type in {"deal.committed", "deal.aborted"}:
                outcomes[(str(logged["deal_id"]), event.type)] += 1
            elif event.type == "deal.voted":
                votes[str(logged["deal_id"])] += 1
    finally:
        store.close()
    found: dict[str, tuple[DealStatus, int]] = {}
    for deal_id, record in state.deals.items():
        committed, aborted = outcomes[(deal_id, "deal.committed")], outcomes[(deal_id, "deal.aborted")]
        assert committed + aborted <= 1, f"deal {deal_id}: committed {committed} and aborted {aborted} times"
        implied = (
            DealStatus.COMMITTED if committed else DealStatus.ABORTED if aborted else DealStatus.PREPARING
        )
        assert record.status is implied, f"deal {deal_id}: {record.status} but the log implies {implied}"
        assert len(record.ballots) == votes[deal_id]
        if committed:
            assert set(record.ballots) == set(record.voters)
            assert all(
                b.deal_hash == record.deal_hash and b.vote.value == "yes" for b in record.ballots.values()
            )
        found[deal_id] = (record.status, len(record.ballots))
    return found


def restart(server: Server, info: dict[str, Any]) -> None:
    again = server.start()
    assert (again["service_key"], again["log_key"]) == (info["service_key"], info["log_key"])


def test_kill_9_during_two_phase_commit(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, tmp_path / "serve.log")
    clients: dict[str, BackchannelClient] = {}
    try:
        info = server.start()
        build_world(server.url, info["service_key"])
        url = server.url
        clients.update({p: BackchannelClient(url, k.name, k) for p, k in VOTERS.items()})
        commands = {p: vote_command(c, "between") for p, c in clients.items()}

        # 1. between votes, and after the last vote
        prepare(url, "between", datetime.now(UTC) + timedelta(minutes=10))
        assert [e["type"] for e in send(url, "usa", commands["usa"])["events"]] == ["deal.voted"]
        server.kill()
        assert check_data_dir(data_dir)["between"] == (DealStatus.PREPARING, 1)
        restart(server, info)
        assert send(url, "usa", commands["usa"])["replayed"] is True  # the acknowledged vote survived
        send(url, "iran", commands["iran"])
        server.kill()
        assert check_data_dir(data_dir)["between"] == (DealStatus.PREPARING, 2)
        restart(server, info)
        last = send(url, "eu", commands["eu"])
        assert [e["type"] for e in last["events"]] == ["deal.voted", "deal.committed"]
        server.kill()
        assert check_data_dir(data_dir)["between"] == (DealStatus.COMMITTED, 3)
        restart(server, info)
        assert send(url, "eu", commands["eu"])["replayed"] is True
        with pytest.raises(ProblemError, match="a vote cannot change") as refused:
            clients["iran"].deals.vote(TRACK, "between", vote=False)
        assert refused.value.status == 409

        # 2. the last vote in flight when the server dies
        prepare(url, "in-doubt", datetime.now(UTC) + timedelta(minutes=10))
        doubt = {p: vote_command(c, "in-doubt") for p, c in clients.items()}
        send(url, "usa", doubt["usa"])
        send(url, "iran", doubt["iran"])
        answered: list[dict[str, Any]] = []

        def fire() -> None:
            with contextlib.suppress(
                httpx.TransportError, ProblemError
            ):  # in doubt: re-sent after the restart
                answered.append(send(url, "eu", doubt["eu"]))

        thread = threading.Thread(target=fire)
        thread.start()
        time.sleep(0.005)  # let the request leave; whether it is decided before the kill is the point
        server.kill()
        thread.join(timeout=30)
        status, _ = check_data_dir(data_dir)["in-doubt"]
        assert status in {DealStatus.PREPARING, DealStatus.COMMITTED}
        assert not answered or status is DealStatus.COMMITTED  # acknowledged means logged
        restart(server, info)
        again = send(url, "eu", doubt["eu"])
        assert again["replayed"] is (status is DealStatus.COMMITTED)
        assert [e["type"] for e in again["events"]] == ["deal.voted", "deal.committed"]

        # 3. a deadline that passes while the service is down
        deadline = datetime.now(UTC) + timedelta(seconds=2)
        prepare(url, "lapsed", deadline)
        send(url, "usa", vote_command(clients["usa"], "lapsed"))
        server.kill()
        assert check_data_dir(data_dir)["lapsed"] == (
            DealStatus.PREPARING,
            1,
        )  # nothing is decided while down
        wait = time.monotonic() + 10
        while datetime.now(UTC) <= deadline:  # the deadline passes while the service is down
            assert time.monotonic() < wait
            time.sleep(0.05)
        restart(server, info)
        with BackchannelClient(url, QATAR.name, QATAR) as qatar:
            wait = time.monotonic() + 10
            while (view := qatar.deals.get(TRACK, "lapsed"))["status"] == "preparing":
                assert time.monotonic() < wait, (
                    "the first ticks after the restart did not abort the lapsed deal"
                )
                time.sleep(0.05)
        assert view["status"] == "aborted"
        assert (view["outcome"]["reason"], view["outcome"]["missing"]) == (
            "deadline",
            ["eu/principal", "iran/principal"],
        )
        with pytest.raises(ProblemError, match="deal lapsed is already aborted") as late:
            clients["iran"].deals.vote(TRACK, "lapsed", vote=True)
        assert late.value.status == 409
        server.kill()
        final = check_data_dir(data_dir)
        assert final == {
            "between": (DealStatus.COMMITTED, 3),
            "in-doubt": (DealStatus.COMMITTED, 3),
            "lapsed": (DealStatus.ABORTED, 1),
        }
    finally:
        for client in clients.values():
            client.close()
        server.kill()
    assert "Traceback" not in server.output()
