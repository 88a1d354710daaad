"""Issue #8 in the small: the replay window, admission, stream slots and the due-time schedule."""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backchannel.broker import DeliveryPolicy
from backchannel.errors import ConfigurationError, EncodingError, RateLimitedError, VerificationError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import write_key_file
from backchannel.protocol.wire import sign_command
from backchannel.service.admission import Admission, AdmissionRefusedError, read_admitted_key
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.escrow import EscrowService
from backchannel.service.integrity import DamagedTrackError, IntegrityReport, check_store
from backchannel.service.limits import StreamSlots
from backchannel.service.log import LogWriter
from backchannel.service.obligations import ObligationService
from backchannel.service.replay import ReplayWindow
from backchannel.service.schedule import PeriodicWork
from backchannel.service.tracks import TrackService
from backchannel.store.memory import MemoryEventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import message_body, opening, seeded_keys

NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=300)
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")


# --- the replay window ----------------------------------------------------------------------------


def test_a_nonce_is_accepted_once_per_key_and_track() -> None:
    window = ReplayWindow(WINDOW)
    window.check_and_add("doha", "k1", "n", NOW, NOW)
    with pytest.raises(VerificationError, match="replayed nonce 'n' for key k1"):
        window.check_and_add("doha", "k1", "n", NOW, NOW)
    window.check_and_add("doha", "k2", "n", NOW, NOW)  # another key's nonce space
    window.check_and_add("oslo", "k1", "n", NOW, NOW)  # another track's
    assert window.statistics().nonces == 3
    assert window.statistics().replays_refused == 1


def test_a_full_key_budget_says_when_its_oldest_nonce_leaves() -> None:
    window = ReplayWindow(WINDOW, per_key=2, per_track=10)
    window.check_and_add("doha", "k1", "a", NOW + timedelta(seconds=10), NOW)
    window.check_and_add("doha", "k1", "b", NOW - timedelta(seconds=100), NOW)
    with pytest.raises(RateLimitedError) as full:
        window.check_and_add("doha", "k1", "c", NOW, NOW)
    assert full.value.retry_after == 200  # b, created 100 s ago, leaves in 200 s
    assert full.value.limit == 2
    window.check_and_add("doha", "k2", "c", NOW, NOW)  # k2 is not affected
    window.check_and_add("doha", "k1", "c", NOW, NOW + timedelta(seconds=201))  # b has left
    stats = window.statistics()
    assert (stats.budget_refusals, stats.keys, stats.tracks) == (1, 2, 1)


def test_a_full_track_budget_refuses_every_key_of_that_track_only() -> None:
    window = ReplayWindow(WINDOW, per_key=10, per_track=2)
    window.check_and_add("doha", "k1", "a", NOW, NOW)
    window.check_and_add("doha", "k2", "a", NOW, NOW)
    with pytest.raises(RateLimitedError, match="track 'doha' holds 2 unexpired nonces"):
        window.check_and_add("doha", "k3", "a", NOW, NOW)
    window.check_and_add("oslo", "k3", "a", NOW, NOW)


def test_expired_nonces_are_forgotten_and_stale_ones_refused() -> None:
    window = ReplayWindow(WINDOW, per_key=1)
    window.check_and_add("doha", "k1", "a", NOW, NOW)
    later = NOW + WINDOW + timedelta(seconds=1)
    window.check_and_add("doha", "k1", "b", later, later)  # a expired: room again
    assert window.statistics().nonces == 1
    with pytest.raises(VerificationError, match="older than the replay window"):
        window.check_and_add("doha", "k1", "c", NOW, later)


def test_requests_created_before_the_start_are_refused() -> None:
    window = ReplayWindow(WINDOW, not_before=NOW)
    assert window.not_before == NOW
    with pytest.raises(VerificationError, match="before this service started"):
        window.check_and_add("doha", "k1", "a", NOW - timedelta(seconds=1), NOW)
    window.check_and_add("doha", "k1", "a", NOW, NOW)
    nonces = window.for_track("doha")
    assert nonces.window == WINDOW
    with pytest.raises(VerificationError, match="replayed"):
        nonces.check_and_add("k1", "a", NOW, NOW)


def test_the_window_refuses_bad_settings_and_naive_times() -> None:
    with pytest.raises(ConfigurationError, match="must be positive"):
        ReplayWindow(timedelta(0))
    with pytest.raises(ConfigurationError, match="per_key must be at least 1"):
        ReplayWindow(WINDOW, per_key=0)
    with pytest.raises(EncodingError, match="timezone-aware"):
        ReplayWindow(WINDOW).check_and_add("doha", "k1", "a", NOW.replace(tzinfo=None), NOW)


def test_future_dated_requests_leave_a_durable_mark_that_outlives_a_restart(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "db.sqlite3") as store:
        window = ReplayWindow(WINDOW, not_before=NOW, journal=store)
        window.check_and_add("doha", "k1", "now", NOW, NOW)  # not in the future: no mark
        assert store.replay_marks(0) == {}
        ahead = NOW + timedelta(seconds=100)
        window.check_and_add("doha", "k1", "a", ahead, NOW)
        window.check_and_add("doha", "k1", "b", ahead - timedelta(seconds=50), NOW)  # an earlier mark is kept
        assert store.replay_marks(0) == {("doha", "k1"): int(ahead.timestamp())}
        restart = NOW + timedelta(seconds=10)
        again = ReplayWindow(WINDOW, not_before=restart, journal=store)
        with pytest.raises(VerificationError, match="before this service restarted"):
            again.check_and_add("doha", "k1", "a", ahead, restart)  # the captured request
        with pytest.raises(VerificationError, match="before this service restarted"):
            again.check_and_add("doha", "k1", "c", ahead - timedelta(seconds=1), restart)
        again.check_and_add("doha", "k1", "d", ahead + timedelta(seconds=1), restart)
        again.check_and_add("doha", "k2", "a", ahead, restart)  # another key has no mark
        # marks older than the next start are dropped when it starts
        assert store.replay_marks(int((ahead + timedelta(seconds=2)).timestamp())) == {}


# --- admission ------------------------------------------------------------------------------------


def test_admission_names_the_rule_and_reads_key_files(tmp_path: Path) -> None:
    admission = Admission([QATAR.signing.key_id])
    admission.verify_may_open(QATAR.signing.key_id, "doha")
    with pytest.raises(AdmissionRefusedError, match="admission rule") as refused:
        admission.verify_may_open(USA.signing.key_id, "doha")
    assert refused.value.rule == "admission"
    assert not Admission().admits(QATAR.signing.key_id)
    assert Admission.unsafe_open_to_all().admits(USA.signing.key_id)
    private = tmp_path / "usa.key"
    write_key_file(private, USA)
    public = tmp_path / "usa.pub.json"
    public.write_text(json.dumps(USA.public_dict()))
    assert read_admitted_key(private) == read_admitted_key(public) == USA.signing.key_id
    both = Admission.from_specs([str(public), QATAR.signing.key_id])
    assert both.key_ids == {USA.signing.key_id, QATAR.signing.key_id}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON key file"),
        ('{"ed25519": {"key_id": "nope"}}', "ed25519.key_id: expected"),
        ('{"ed25519": {"key_id": "ed25519:' + "0" * 32 + '", "public": "AAAA"}}', "ed25519.public"),
    ],
)
def test_bad_admitted_keys_are_configuration_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        Admission.from_specs([str(path)])
    with pytest.raises(ConfigurationError, match="cannot read it"):
        Admission.from_specs([str(tmp_path / "missing.key")])
    with pytest.raises(ConfigurationError, match="expected an Ed25519 key id"):
        Admission(["ed25519:short"])


def test_a_track_service_refuses_unadmitted_openers_before_appending() -> None:
    clock = FakeClock(NOW)
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock, admission=Admission([QATAR.signing.key_id]))
    ((_, command, body),) = opening(USA, NODE, [], agenda=None)
    signed = sign_command(
        USA.signing, track="t", command=command, member=USA.name, body=body, issued_at=NOW, nonce="nonce-0001"
    )
    with pytest.raises(AdmissionRefusedError):
        tracks.execute(signed)
    assert store.list_tracks() == []


# --- stream slots ---------------------------------------------------------------------------------


def test_stream_slots_are_per_member_and_say_when_one_frees() -> None:
    now = [100.0]
    slots = StreamSlots(2, monotonic=lambda: now[0])
    first = slots.acquire("doha", "usa/a", 30)
    now[0] += 5
    with slots.hold("doha", "usa/a", 30):
        with pytest.raises(RateLimitedError) as full:
            slots.acquire("doha", "usa/a", 30)
        assert full.value.retry_after == 25  # the first ends 25 s from now
        slots.acquire("doha", "usa/b", 30)  # another member
    slots.acquire("doha", "usa/a", 30)  # the held one was given back
    slots.release("doha", "usa/a", first)
    slots.release("doha", "usa/a", first)  # idempotent
    assert slots.statistics().refused == 1
    now[0] += 1000  # a slot whose release was lost is reclaimed long after its stream's end
    slots.acquire("doha", "usa/a", 30)
    slots.acquire("doha", "usa/a", 30)
    with pytest.raises(ConfigurationError):
        StreamSlots(0)


# --- the due-time schedule ------------------------------------------------------------------------


def test_a_tick_visits_only_the_tracks_with_work_due() -> None:
    clock = FakeClock(NOW)
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    deadlines = {
        "flash": timedelta(seconds=60),
        "priority": timedelta(hours=1),
        "routine": timedelta(hours=24),
    }
    policy = DeliveryPolicy(ack_deadline=deadlines)
    delivery = DeliveryService(tracks, NODE, policy, clock=clock)
    work = PeriodicWork(
        tracks,
        deals=DealService(tracks, NODE, clock=clock),
        delivery=delivery,
        escrows=EscrowService(tracks, NODE, clock=clock),
        obligations=ObligationService(tracks, NODE, clock=clock),
    )
    counter = iter(range(10_000))

    def run(track: str, who: object, command: str, body: dict) -> None:
        delivery.submit(sign_command(
            who.signing, track=track, command=command, member=who.name, body=body,  # type: ignore[attr-defined]
            issued_at=clock.now(), nonce=f"nonce-{next(counter):08d}",
        ))  # fmt: skip

    idle = [f"idle-{i:03d}" for i in range(40)]
    for track in idle:
        for who, command, body in opening(QATAR, NODE, [], agenda=None):
            run(track, who, command, body)
    assert work.tick(clock.now()).visited == tuple(sorted(idle))  # the first tick learns every due time
    assert work.statistics().scheduled == 0  # idle tracks have nothing due
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        assert work.tick(clock.now()).visited == ()
    # one busy track: a flash message that nobody acknowledges escalates after 60 s
    for who, command, body in opening(QATAR, NODE, [USA], agenda=None):
        run("busy", who, command, body)
    run("busy", USA, "submit_message", message_body("statement", {"text": "hi"}, priority="flash"))
    work.touch("busy")
    result = work.tick(clock.now())
    assert result.visited == ("busy",)
    assert result.wait is not None
    assert 0 < result.wait <= 60
    stats = work.statistics()
    assert (stats.last_visits, stats.scheduled) == (1, 1)
    clock.advance(timedelta(seconds=30))
    assert work.tick(clock.now()).visited == ()  # not due yet
    clock.advance(timedelta(seconds=31))
    due = work.tick(clock.now())
    assert due.visited == ("busy",)
    assert due.changed
    assert work.statistics().visits == len(idle) + 2


class _FailingObligations(ObligationService):
    """The real obligation service, except that its work fails on the tracks in ``failing``."""

    failing: set[str]

    def tick(self, track: str, now: datetime | None = None) -> list:
        if track in self.failing:
            raise RuntimeError(f"the reviews of {track} failed")
        return super().tick(track, now)


def _schedule(clock: FakeClock) -> tuple[TrackService, PeriodicWork, _FailingObligations]:
    store = MemoryEventStore()
    writer = LogWriter(store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=clock)
    tracks = TrackService(writer, NODE, clock=clock)
    for index, track in enumerate(("bad", "good")):
        for who, command, body in opening(QATAR, NODE, [], agenda=None):
            tracks.execute(sign_command(
                who.signing, track=track, command=command, member=who.name, body=body,
                issued_at=clock.now(), nonce=f"nonce-{index:04d}",
            ))  # fmt: skip
    obligations = _FailingObligations(tracks, NODE, clock=clock)
    obligations.failing = {"bad"}
    work = PeriodicWork(
        tracks,
        deals=DealService(tracks, NODE, clock=clock),
        delivery=DeliveryService(tracks, NODE, DeliveryPolicy(), clock=clock),
        escrows=EscrowService(tracks, NODE, clock=clock),
        obligations=obligations,
    )
    return tracks, work, obligations


def test_a_failing_track_backs_off_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(NOW)
    _, work, obligations = _schedule(clock)
    with caplog.at_level(logging.DEBUG, logger="backchannel.service.schedule"):
        visits = []
        for _ in range(12):  # 12 s: back-off 1, 2, 4 s... so "bad" is visited 4 times, not 12
            visits.append(work.tick(clock.now()).visited)
            clock.advance(timedelta(seconds=1))
        assert visits[0] == ("bad", "good")
        assert sum("bad" in v for v in visits) == 4
        assert work.statistics().failing == 1
        tracebacks = [r for r in caplog.records if r.exc_info is not None and r.levelno >= logging.WARNING]
        assert len(tracebacks) == 1  # logged once, with its traceback
        obligations.failing.clear()
        clock.advance(timedelta(seconds=60))
        assert work.tick(clock.now()).visited == ("bad",)
        assert work.statistics().failing == 0
        assert any("recovered" in r.getMessage() for r in caplog.records)


def test_a_damaged_track_is_set_aside_and_never_visited_again() -> None:
    clock = FakeClock(NOW)
    tracks, work, _ = _schedule(clock)
    tracks.set_aside(IntegrityReport(tracks=("bad", "good"), damaged={"bad": (1, "entry 1: altered")}))
    with pytest.raises(DamagedTrackError, match="at index 1: entry 1: altered"):
        tracks.state("bad")
    assert work.tick(clock.now()).visited == ("bad", "good")
    work.touch("bad")
    assert work.tick(clock.now()).visited == ()
    assert work.statistics().set_aside == 1
    assert work.tick(clock.now()).wait is None


def test_a_memory_store_is_checked_track_by_track() -> None:
    clock = FakeClock(NOW)
    tracks, _, _ = _schedule(clock)
    report = check_store(tracks.store)
    assert report.healthy == ("bad", "good")
    assert check_store(tracks.store, full=True).damaged == {}
