"""The negotiating text through a real uvicorn server and the SDK: drafts, stale edits (409), diffs, comments."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from backchannel.api import create_app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService, replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import new_key_json, seeded_keys

TRACK = "doha-text"
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
IRAN = seeded_keys(4, "iran/principal")
USA_DELEGATE = seeded_keys(5, "usa/delegate")
USA_OBSERVER = seeded_keys(6, "usa/observer")
NORWAY = seeded_keys(8, "norway/principal")
IAEA = seeded_keys(10, "iaea/principal")
V1 = "Article 1. Iran caps enrichment at 3.67%.\nArticle 2. Sanctions relief, tier 1.\n"
V2 = "Article 1. Iran caps enrichment at 3.67% for 15 years.\nArticle 2. Sanctions relief, tier 1.\n"
V3 = V2 + "Article 3. IAEA continuous monitoring.\n"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv = uvicorn.Server(
        uvicorn.Config(
            create_app(TrackService(writer, NODE), public_origin=address), log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield address
        assert replay(store, TRACK).texts is not None  # the whole log re-decides
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


@pytest.fixture
def clients(url: str) -> Iterator[dict[str, BackchannelClient]]:
    made = {
        k.name: BackchannelClient(url, k.name, k, sleep=lambda _: None)
        for k in (QATAR, USA, IRAN, USA_DELEGATE, USA_OBSERVER, NORWAY, IAEA)
    }
    qatar = made[QATAR.name]
    service_key = qatar.service_info()["service_key"]
    qatar.execute("open_track", {
        "title": "Doha", "principal_key": new_key_json(QATAR), "service_key": {**service_key, "expires_at": None},
    }, track=TRACK)  # fmt: skip
    for party, kind, principal in (
        ("usa", "delegation", USA), ("iran", "delegation", IRAN),
        ("norway", "witness", NORWAY), ("iaea", "inspector", IAEA),
    ):  # fmt: skip
        body = {
            "party": party,
            "kind": kind,
            "principal": principal.name,
            "principal_key": new_key_json(principal),
        }
        qatar.execute("admit_party", body, track=TRACK)
    for member, role in ((USA_DELEGATE, "delegate"), (USA_OBSERVER, "observer")):
        body = {"new_member": member.name, "role": role, "new_key": new_key_json(member)}
        made[USA.name].execute("enroll_member", body, track=TRACK)
    yield made
    for client in made.values():
        client.close()


def problem(call: Callable[[], object]) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        call()
    return info.value


def slug(error: ProblemError) -> str:
    return error.type.rsplit("/", 1)[-1]


def test_a_text_drafted_and_revised_with_a_stale_edit_refused(clients: dict[str, BackchannelClient]) -> None:
    qatar, usa, iran = clients[QATAR.name], clients[USA.name], clients[IRAN.name]
    drafted = qatar.texts.draft(TRACK, "framework", V1, title="Framework for a nuclear agreement")
    assert [e["type"] for e in drafted["events"]] == ["text.drafted"]

    # mediator-only (the default): usa may not edit, only comment privately
    refused = problem(lambda: usa.texts.edit(TRACK, "framework", V2, base_version=1))
    assert (refused.status, slug(refused)) == (403, "not-authorized")
    assert "mediator-only" in refused.problem["detail"]
    usa.texts.comment(TRACK, "framework", "Add a sunset clause.", version=1)
    iran.texts.comment(TRACK, "framework", "Relief must come first.", version=1)

    qatar.texts.edit(TRACK, "framework", V2, base_version=1)
    qatar.texts.set_policy(TRACK, "shared")
    usa.texts.edit(TRACK, "framework", V3, base_version=2)

    # iran edits version 2, which is no longer current: 409, the current version in the problem
    stale = problem(
        lambda: iran.texts.edit(TRACK, "framework", V2 + "Article 3. Phased relief.\n", base_version=2)
    )
    assert (stale.status, slug(stale)) == (409, "stale-text-version")
    assert (stale.problem["current"], stale.problem["doc"]) == (3, "framework")
    assert iran.texts.get(TRACK, "framework")["text"] == V3  # never merged

    shown = iran.texts.get(TRACK, "framework")
    assert (shown["version"], shown["current_version"], shown["base_version"], shown["by"]) == (
        3,
        3,
        2,
        USA.name,
    )
    assert (shown["policy"], shown["title"]) == ("shared", "Framework for a nuclear agreement")
    first = iran.texts.get(TRACK, "framework", version=1)
    assert (first["text"], first["base_version"], first["by"]) == (V1, None, QATAR.name)
    listed = clients[USA_OBSERVER.name].texts.list_all(TRACK)
    assert listed["policy"] == "shared"
    assert [(d["doc"], d["version"]) for d in listed["documents"]] == [("framework", 3)]

    diff = usa.texts.diff(TRACK, "framework", 1, 3)
    assert diff.startswith("--- framework@v1\n+++ framework@v3\n")
    assert (
        "-Article 1. Iran caps enrichment at 3.67%.\n+Article 1. Iran caps enrichment at 3.67% for 15 years.\n"
        in diff
    )
    assert "+Article 3. IAEA continuous monitoring.\n" in diff
    assert usa.texts.diff(TRACK, "framework", 2, 2) == ""

    # comments: the mediator reads both; each party reads its own
    assert {c["text"] for c in qatar.texts.comments(TRACK, "framework")} == {
        "Add a sunset clause.",
        "Relief must come first.",
    }
    assert [c["text"] for c in clients[USA_DELEGATE.name].texts.comments(TRACK, "framework")] == [
        "Add a sunset clause."
    ]
    assert [c["party"] for c in iran.texts.comments(TRACK, "framework")] == ["iran"]


def test_reads_are_for_the_mediator_and_the_delegations(clients: dict[str, BackchannelClient]) -> None:
    qatar = clients[QATAR.name]
    qatar.texts.draft(TRACK, "framework", V1, title="Framework")
    for outsider in (NORWAY, IAEA):
        client = clients[outsider.name]
        for call in (
            lambda c=client: c.texts.list_all(TRACK),
            lambda c=client: c.texts.get(TRACK, "framework"),
            lambda c=client: c.texts.diff(TRACK, "framework", 1, 1),
            lambda c=client: c.texts.comments(TRACK, "framework"),
        ):
            error = problem(call)
            assert (error.status, slug(error)) == (403, "not-authorized"), outsider.name
    usa = clients[USA.name]
    for call in (
        lambda: usa.texts.get(TRACK, "nope"),
        lambda: usa.texts.get(TRACK, "framework", version=2),
        lambda: usa.texts.diff(TRACK, "framework", 1, 2),
        lambda: usa.texts.comments(TRACK, "nope"),
    ):
        assert problem(call).status == 404
    error = problem(lambda: usa.get_json(f"/v1/tracks/{TRACK}/texts/framework", version=0))
    assert error.status == 422


def test_bad_text_commands_name_the_field_and_append_nothing(clients: dict[str, BackchannelClient]) -> None:
    qatar, usa = clients[QATAR.name], clients[USA.name]
    qatar.texts.draft(TRACK, "framework", V1, title="Framework")
    cases: list[tuple[Callable[[], Any], int, str]] = [
        (lambda: qatar.texts.draft(TRACK, "Bad Id", V1, title="t"), 422, "schema-violation"),
        (lambda: qatar.texts.draft(TRACK, "big", "x" * 65_537, title="t"), 422, "schema-violation"),
        (lambda: qatar.texts.draft(TRACK, "framework", V1, title="again"), 409, "track-state"),
        (lambda: qatar.texts.edit(TRACK, "framework", V1, base_version=1), 409, "track-state"),
        (lambda: qatar.texts.edit(TRACK, "nope", V1, base_version=1), 422, "unknown-document"),
        (lambda: qatar.texts.set_policy(TRACK, "anyone"), 422, "schema-violation"),
        (lambda: qatar.texts.set_policy(TRACK, "mediator-only"), 409, "track-state"),
        (lambda: usa.texts.set_policy(TRACK, "shared"), 403, "not-authorized"),
        (lambda: usa.texts.comment(TRACK, "framework", "x", version=2), 422, "unknown-document"),
        (
            lambda: clients[USA_OBSERVER.name].texts.comment(TRACK, "framework", "x", version=1),
            403,
            "not-authorized",
        ),
        (
            lambda: clients[NORWAY.name].texts.comment(TRACK, "framework", "x", version=1),
            403,
            "not-authorized",
        ),
    ]
    size = qatar.log.checkpoint(TRACK).size
    for call, status, kind in cases:
        error = problem(call)
        assert (error.status, slug(error)) == (status, kind), error
    assert qatar.log.checkpoint(TRACK).size == size
    violation = problem(lambda: qatar.texts.draft(TRACK, "Bad Id", V1, title="")).problem["violations"]
    assert {v["field"] for v in violation} == {"doc", "title"}
