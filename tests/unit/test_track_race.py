"""Two track services on one store (SQLite, PostgreSQL): a decision never builds on entries it has not folded.

Nodes sharing one store each keep a track's state in memory, folded up to a
size. A node decides a command on that state, then appends. If another node
commits in between, the append must lose the race (``ConflictError``) and the
command be decided again on the folded state; appending after the other
node's entries anyway would cache a state that lacks them under a size that
counts them, and that node would then refuse every later command naming them
(``unknown-message``, ``receipt.recorded cannot be applied: unknown 'iran'``:
``tests/integration/test_scaleout_kill.py``). The interleaving is set by hand.

The retry, and every decision on the track for a while after, holds the track
(ADR-0061: PostgreSQL's advisory lock, a lock file beside the SQLite database):
another node's append waits for it instead of racing again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backchannel.domain import ReceiptItem
from backchannel.errors import ConflictError, ProgrammingError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import receipt_digest
from backchannel.service.log import AppendResult, Draft, LogWriter
from backchannel.service.tracks import CommandResult, TrackService, replay
from backchannel.store.base import EventStore
from backchannel.store.memory import MemoryEventStore
from backchannel.store.postgres import PostgresEventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import CommandSigner, message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
SIGNER = NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class SlowWriter(LogWriter):
    """A log writer that lets ``between`` run once after its node decided and before it appends."""

    def __init__(self, store: EventStore, clock: FakeClock) -> None:
        super().__init__(store, SIGNER, clock=clock)
        self.between: Callable[[], object] | None = None

    def append(
        self, track: str, drafts: Sequence[Draft], *, expected_size: int | None = None
    ) -> AppendResult:
        between, self.between = self.between, None
        if between is not None:
            between()
        return super().append(track, drafts, expected_size=expected_size)


class Cluster:
    """Node ``a`` and node ``b`` (whose appends can be delayed) on one database."""

    def __init__(self, open_store: Callable[[], EventStore]) -> None:
        self.clock = FakeClock(T0)
        self.open_store = open_store
        self.stores = [open_store(), open_store()]
        self.b_writer = SlowWriter(self.stores[1], self.clock)
        self.a = TrackService(LogWriter(self.stores[0], SIGNER, clock=self.clock), NODE, clock=self.clock)
        self.b = TrackService(self.b_writer, NODE, clock=self.clock)
        self.signer = CommandSigner(self.clock, TRACK)
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.run(self.a, who, command, body)

    def run(self, node: TrackService, who: KeyPair, command: str, body: dict[str, Any]) -> CommandResult:
        self.clock.advance(timedelta(seconds=1))
        return node.execute(self.signer.sign(who, command, body))

    def submit(self, node: TrackService, text: str) -> str:
        (event,) = self.run(node, USA, "submit_message", message_body("statement", {"text": text})).events
        message_id: str = event.message_id  # type: ignore[attr-defined]
        return message_id

    def forward(self, node: TrackService, message_id: str) -> int:
        result = self.run(node, QATAR, "forward_message", {"message_id": message_id, "to_parties": ["iran"]})
        assert result.first_index is not None
        return result.first_index

    def settle(self, node: TrackService, message_id: str, index: int) -> None:
        body = {
            "items": [[message_id, index]],
            "receipt_digest": receipt_digest([ReceiptItem(message_id, index)]).hex(),
        }
        self.run(node, IRAN, "record_receipt", body)

    def folded(self) -> Any:
        """The track's state folded afresh from the database by a third node."""
        store = self.open_store()
        try:
            return TrackService(LogWriter(store, SIGNER), NODE).state(TRACK)
        finally:
            store.close()

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        nodes = Cluster(lambda: SQLiteEventStore.open(path))
    else:
        url = request.getfixturevalue("postgres_url")
        nodes = Cluster(lambda: PostgresEventStore.open(url))
    yield nodes
    nodes.close()


def test_a_node_that_decided_before_another_committed_decides_again(cluster: Cluster) -> None:
    cluster.b.state(TRACK)  # b holds the opened track
    landed: list[str] = []
    cluster.b_writer.between = lambda: landed.append(cluster.submit(cluster.a, "first, through a"))
    second = cluster.submit(cluster.b, "second, through b")  # decided, a commits, then b appends
    (first,) = landed
    assert cluster.b.state(TRACK) == cluster.folded()
    assert cluster.b.statistics().races_lost == 1
    assert cluster.b.state(TRACK) == replay(cluster.stores[1], TRACK)
    cluster.b.state(TRACK).message(first)  # b knows a's message: it can forward it
    index = cluster.forward(cluster.b, first)
    cluster.settle(cluster.b, first, index)
    cluster.settle(cluster.a, second, cluster.forward(cluster.a, second))
    assert cluster.a.state(TRACK) == cluster.b.state(TRACK) == cluster.folded()


def test_a_receipt_decided_on_a_node_that_missed_a_forward_is_applied_after_it(cluster: Cluster) -> None:
    """The 409 ``unknown 'iran'`` of the kill test: a forward from a, a receipt through b."""
    one = cluster.submit(cluster.a, "one")
    two = cluster.submit(cluster.a, "two")
    index_one = cluster.forward(cluster.b, one)  # b is current up to here
    forwarded: list[int] = []
    cluster.b_writer.between = lambda: forwarded.append(cluster.forward(cluster.a, two))
    cluster.settle(cluster.b, one, index_one)  # decided, then a forwards ``two``, then b appends
    (index_two,) = forwarded
    cluster.settle(cluster.b, two, index_two)  # b's state has the forward of ``two``
    state = cluster.b.state(TRACK)
    assert state == cluster.folded()
    assert state.message(one).deliveries["iran"].settled is not None
    assert state.message(two).deliveries["iran"].settled is not None


def test_a_writer_told_the_size_it_decided_at_refuses_a_longer_track(cluster: Cluster) -> None:
    size = cluster.stores[0].size(TRACK)
    cluster.submit(cluster.a, "grows the track")
    draft = Draft("test.noted", "qatar/service", {"n": 1}, NODE.signing)
    with pytest.raises(ConflictError, match=f"decided at size {size}") as raised:
        cluster.b_writer.append(TRACK, [draft], expected_size=size)
    assert (raised.value.expected, raised.value.actual) == (size, size + 1)
    assert cluster.stores[1].size(TRACK) == size + 1  # nothing written


class Later:
    """A command run on another thread: has it got through yet?"""

    def __init__(self, run: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(run,), daemon=True)
        self._thread.start()

    def _run(self, run: Callable[[], object]) -> None:
        try:
            run()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.errors.append(e)
        finally:
            self.done.set()

    def join(self) -> None:
        assert self.done.wait(30), "the command never got through"
        assert not self.errors, self.errors


def test_the_retry_holds_the_track_so_another_node_waits_instead_of_racing(cluster: Cluster) -> None:
    cluster.b.state(TRACK)
    waiting: list[Later] = []

    def then_a_again() -> None:  # the retry, holding the lock: a's append must wait for it
        waiting.append(Later(lambda: cluster.submit(cluster.a, "third, through a, while b holds")))
        assert not waiting[0].done.wait(0.5), "a appended while b held the track"

    def a_commits_first() -> None:
        cluster.submit(cluster.a, "first, through a")
        cluster.b_writer.between = then_a_again

    cluster.b_writer.between = a_commits_first
    cluster.submit(cluster.b, "second, through b")
    waiting[0].join()
    assert cluster.b.statistics().races_lost == 1  # the retry did not lose again
    # a decided (optimistically) before b appended and waited at its own append: it lost once, then
    # decided again holding the track.
    assert cluster.a.statistics().races_lost == 1
    state = cluster.folded()
    assert [m.body["text"] for m in sorted(state.messages.values(), key=lambda m: m.sequence)] == [
        "first, through a",
        "second, through b",
        "third, through a, while b holds",
    ]
    assert cluster.b.state(TRACK) == replay(cluster.stores[1], TRACK)


def test_a_contended_track_is_held_for_the_next_decision_too(cluster: Cluster) -> None:
    cluster.b.state(TRACK)
    cluster.b_writer.between = lambda: cluster.submit(cluster.a, "first, through a")
    cluster.submit(cluster.b, "second, through b")  # lost once: the track is now contended on b
    waiting: list[Later] = []

    def a_meanwhile() -> None:
        waiting.append(Later(lambda: cluster.submit(cluster.a, "fourth, through a")))
        assert not waiting[0].done.wait(0.5), "a appended while b held the track"

    cluster.b_writer.between = a_meanwhile
    cluster.submit(cluster.b, "third, through b")  # held from the first attempt: no race
    waiting[0].join()
    assert cluster.b.statistics().races_lost == 1
    assert cluster.folded() == cluster.a.state(TRACK) == cluster.b.state(TRACK)


def test_a_thread_holds_one_track_at_a_time(cluster: Cluster) -> None:
    store = cluster.stores[0]
    with (
        store.exclusive("one"),
        pytest.raises(ProgrammingError, match="holds track 'one'; it cannot also hold 'two'"),
        store.exclusive("two"),
    ):
        pass  # pragma: no cover


def test_on_sqlite_the_lock_is_a_file_beside_the_database_and_appends_take_it(tmp_path: Path) -> None:
    with (
        SQLiteEventStore.open(tmp_path / "one.db") as store,
        store.exclusive("doha"),
        store.exclusive("doha"),
    ):
        (lock,) = (tmp_path / ".one.db.locks").iterdir()  # re-entrant in a thread
        assert lock.stat().st_mode & 0o777 == 0o600
        assert lock.stat().st_size == 0


def test_the_memory_store_holds_nothing() -> None:
    store = MemoryEventStore()
    with store.exclusive("any"), store.exclusive("other"):
        assert store.list_tracks() == []
