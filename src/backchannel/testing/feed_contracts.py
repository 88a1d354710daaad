"""The contract every :class:`~backchannel.forecast.store.FeedStore` adapter must pass.

An adapter's test module subclasses :class:`FeedStoreContract` and supplies two
fixtures: ``store_factory`` (each call opens the *same* store, empty on the
first call) and ``tamper`` (alters row ``seq``'s stored body behind the
store's back, as an attacker with the file would)::

    class TestMemoryFeedStore(FeedStoreContract):
        @pytest.fixture
        def store_factory(self) -> FeedStoreFactory:
            store = MemoryFeedStore()
            return lambda: store

This module does not test adapter-specific behaviour (migrations, triggers,
file handling). It needs pytest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from backchannel.errors import EncodingError, VerificationError
from backchannel.forecast.events import EventReport, EventTime, Fatalities, Location
from backchannel.forecast.store import GENESIS, FeedStore, chain_next

__all__ = ["FeedStoreContract", "FeedStoreFactory", "Tamper", "sample_reports"]

FeedStoreFactory = Callable[[], FeedStore]
Tamper = Callable[[FeedStore, int], None]

_T0 = datetime(2021, 1, 1, tzinfo=UTC)


def sample_reports(count: int, source: str = "wire") -> list[EventReport]:
    """``count`` distinct reports (fixed values, so every run writes the same bytes)."""
    return [
        EventReport(
            report_id=f"r{n}",
            feed="generic",
            source=source,
            time=EventTime(_T0 + timedelta(days=n), _T0 + timedelta(days=n)),
            location=Location(4.0 + n / 100, 18.5, name=f"place {n}"),
            actors=("A", "B"),
            fatalities=Fatalities(n, n, n + 1),
            confidence=0.75,
        )
        for n in range(count)
    ]


class FeedStoreContract:
    """Every behaviour of a :class:`FeedStore`, as pytest tests."""

    def test_append_then_read_round_trips(self, store_factory: FeedStoreFactory) -> None:
        """Appended reports read back in order, equal, with seq, batch and time."""
        store = store_factory()
        reports = sample_reports(5)
        result = store.append(reports, _T0, "batch-1")
        assert (result.added, result.duplicates, result.size) == (5, 0, 5)
        stored = list(store.reports())
        assert [s.seq for s in stored] == [1, 2, 3, 4, 5]
        assert [s.report for s in stored] == reports
        assert [s.report.digest() for s in stored] == [r.digest() for r in reports]
        assert {s.batch for s in stored} == {"batch-1"}
        assert stored[0].imported_at == _T0
        assert [s.seq for s in store.reports(after=3)] == [4, 5]

    def test_duplicates_are_stored_once(self, store_factory: FeedStoreFactory) -> None:
        """A report already stored (same digest) is counted as a duplicate, not stored."""
        store = store_factory()
        reports = sample_reports(3)
        store.append(reports, _T0)
        again = store.append([*reports, reports[0], *sample_reports(4)[3:]], _T0 + timedelta(hours=1))
        assert (again.added, again.duplicates, again.size) == (1, 4, 4)
        assert store.size() == 4

    def test_the_chain_head_follows_every_digest(self, store_factory: FeedStoreFactory) -> None:
        """The head is the hash chain over every digest, across appends."""
        store = store_factory()
        reports = sample_reports(4)
        head = GENESIS
        for report in reports:
            head = chain_next(head, report.digest())
        assert store.append(reports[:2], _T0).head != head
        assert store.append(reports[2:], _T0).head == head
        audit = store.verify(expected_head=head)
        assert audit
        assert (audit.size, audit.head) == (4, head)

    def test_the_head_does_not_depend_on_batching(self, store_factory: FeedStoreFactory) -> None:
        """Appending in several batches gives the head of one append of the same reports."""
        reports = sample_reports(9)
        store = store_factory()
        for first, last in ((0, 1), (1, 5), (5, 5), (5, 9)):
            result = store.append(reports[first:last], _T0)
        head = GENESIS
        for report in reports:
            head = chain_next(head, report.digest())
        assert (result.size, result.head) == (9, head)

    def test_an_empty_store_verifies(self, store_factory: FeedStoreFactory) -> None:
        """An empty store audits clean with the genesis head."""
        audit = store_factory().check()
        assert audit
        assert (audit.size, audit.head) == (0, GENESIS)

    def test_a_tampered_row_is_caught_naming_it(
        self, store_factory: FeedStoreFactory, tamper: Tamper
    ) -> None:
        """Altering a stored body is caught, naming the row."""
        store = store_factory()
        store.append(sample_reports(6), _T0)
        tamper(store, 4)
        audit = store.check()
        assert not audit
        assert audit.bad_seq == 4
        with pytest.raises(VerificationError, match="row 4") as caught:
            store.verify()
        assert caught.value.index == 4

    def test_a_truncated_store_fails_against_its_head(self, store_factory: FeedStoreFactory) -> None:
        """A head other than the store's fails the audit."""
        store = store_factory()
        head = store.append(sample_reports(3), _T0).head
        assert store.check(expected_head=head)
        other = store.check(expected_head=chain_next(head, "00" * 32))
        assert not other
        assert "expected" in other.problem

    def test_reliability_latest_wins_and_is_checked(self, store_factory: FeedStoreFactory) -> None:
        """The latest reliability per source wins; bad values are refused."""
        store = store_factory()
        store.set_reliability("wire", 0.9, _T0)
        store.set_reliability("blog", 0.2, _T0)
        store.set_reliability("wire", 0.7, _T0 + timedelta(days=1))
        table = store.reliability(default=0.4)
        assert table.of("wire") == 0.7
        assert table.of("blog") == 0.2
        assert table.of("unknown") == 0.4
        with pytest.raises(EncodingError, match=r"reliability\['wire'\]"):
            store.set_reliability("wire", 1.5, _T0)
        with pytest.raises(EncodingError, match="source"):
            store.set_reliability(" ", 0.5, _T0)

    def test_data_survives_reopening(self, store_factory: FeedStoreFactory) -> None:
        """Reports, head and reliabilities survive reopening the store."""
        store = store_factory()
        head = store.append(sample_reports(2), _T0).head
        store.set_reliability("wire", 0.8, _T0)
        reopened = store_factory()
        assert reopened.size() == 2
        assert reopened.verify(expected_head=head)
        assert reopened.reliability().of("wire") == 0.8
        reopened.close()
