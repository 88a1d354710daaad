"""Escrow: terms that fail closed, open / sign / release / expire, the check's progress text, visibility.

Time is the world's own clock (``World.now``, moved with ``tick``): the domain reads no clock.
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from agreements_world import (
    DAY,
    PREDICATE,
    attest,
    compliance,
    daily_quorum,
    digest_of,
    expire,
    open_escrow,
    release,
    sign,
    terms,
)
from track_world import World

from backchannel.domain import PartyKind, Role, event_from_dict, evolve
from backchannel.domain.agreements.attestation_book import EMPTY_ATTESTATIONS
from backchannel.domain.agreements.escrow_book import (
    EscrowCheck,
    EscrowConditionError,
    EscrowStatus,
    UnknownEscrowError,
    check_escrow,
    require_releasable,
)
from backchannel.domain.agreements.escrow_commands import OpenEscrow, ReleaseEscrow
from backchannel.domain.agreements.escrow_events import (
    EscrowOpened,
    EscrowRefunded,
    EscrowReleased,
    EscrowReleaseSigned,
)
from backchannel.domain.agreements.escrow_terms import EscrowItem, EscrowTerms
from backchannel.domain.errors import NotAuthorizedError, SchemaViolationError, TrackStateError
from backchannel.domain.visibility import visible_to
from backchannel.errors import EncodingError

ITEM = EscrowItem("frozen assets", 6_000_000_000, "USD", "usa", "iran")


@pytest.fixture
def w() -> World:
    return compliance()


def fields_of(error: pytest.ExceptionInfo[SchemaViolationError]) -> list[str]:
    return [v.field for v in error.value.violations]


def check(w: World, escrow_id: str = "assets") -> EscrowCheck:
    record = w.s.escrows.get(escrow_id)
    assert record is not None
    return check_escrow(record, w.s.attestations, w.now)


# --- terms -----------------------------------------------------------------------------------------


def test_terms_normalise_their_predicates_and_round_trip(w: World) -> None:
    t = terms(w, predicates=("iaea.enrichment_pct   <= 3.67 sustained for 30 day",))
    assert t.predicates == (PREDICATE,)
    assert t.parsed[0].duration == 30 * DAY
    assert t.condition_text == f"2 of (usa, med) AND {PREDICATE}"
    assert EscrowTerms.from_dict(t.to_dict()) == t


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"escrow_id": "Assets"}, ["escrow_id"]),
        ({"items": ()}, ["items"]),
        ({"items": [ITEM]}, ["items"]),
        ({"items": (ITEM,) * 33}, ["items"]),
        ({"items": ("gold",)}, ["items.0"]),
        (
            {"items": (EscrowItem("", 0, "", "USA", "iran"),)},
            ["items.0.what", "items.0.amount", "items.0.unit", "items.0.owner"],
        ),
        (
            {"items": (EscrowItem("x", float("nan"), "USD", "usa", "usa"),)},
            ["items.0.amount", "items.0.beneficiary"],
        ),
        ({"items": (EscrowItem("x", True, "USD", "usa", "iran"),)}, ["items.0.amount"]),
        ({"items": (EscrowItem("x", -5, "USD", "usa", "iran"),)}, ["items.0.amount"]),
        ({"signers": ()}, ["signers"]),
        ({"signers": ("usa", "usa")}, ["signers"]),
        ({"threshold": 0}, ["threshold"]),
        ({"threshold": 3}, ["threshold"]),
        ({"threshold": True}, ["threshold"]),
        ({"predicates": ()}, ["predicates"]),
        ({"predicates": [PREDICATE]}, ["predicates"]),
        ({"predicates": (PREDICATE,) * 9}, ["predicates"]),
        ({"predicates": (PREDICATE, 7)}, ["predicates.1"]),
        ({"predicates": ("iaea.enrichment_pct is low",)}, ["predicates.0"]),
        ({"predicates": (PREDICATE, PREDICATE.replace(" <=", "  <="))}, ["predicates"]),
        ({"expires_at": datetime(2027, 1, 1)}, ["expires_at"]),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_terms_fail_closed(w: World, changes: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        terms(w, **changes)
    assert fields_of(caught) == fields


def test_a_malformed_predicate_names_its_column(w: World) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        terms(w, predicates=("iaea.enrichment_pct is low",))
    assert "predicates.0: predicate 'iaea.enrichment_pct is low': at column 21: expected a comparator" in str(
        caught.value
    )


def test_k_above_n_and_no_signer_are_errors_at_construction(w: World) -> None:
    with pytest.raises(SchemaViolationError, match="1 <= k <= n = 2, got 3"):
        terms(w, threshold=3)
    with pytest.raises(SchemaViolationError, match="signers: expected 1 to 32 parties"):
        terms(w, signers=())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": "x"}, "terms.items: expected an array"),
        ({"signers": [1]}, "terms.signers.0: expected a string"),
        (
            {"items": [{"what": "x", "amount": "1", "unit": "u", "owner": "a", "beneficiary": "b"}]},
            "terms.items.0.amount: expected a number",
        ),
        ({"items": [{"what": "x"}]}, "terms.items.0: missing field"),
        ({"surprise": 1}, "unknown field"),
    ],
)
def test_terms_decode_strictly(w: World, change: dict[str, Any], message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        EscrowTerms.from_dict({**terms(w).to_dict(), **change})


def test_open_escrow_shapes(w: World) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        w.cmd(OpenEscrow, "med/chair", terms={"escrow_id": "x"}, escrow_digest=b"short")
    assert fields_of(caught) == ["escrow_digest", "terms"]
    with pytest.raises(SchemaViolationError) as caught:
        w.cmd(ReleaseEscrow, "iran/lead", escrow_id="Bad Id")
    assert fields_of(caught) == ["escrow_id"]


# --- open ------------------------------------------------------------------------------------------


def test_the_mediator_opens_an_escrow(w: World) -> None:
    t = open_escrow(w)
    (event,) = w.events[-1:]
    assert isinstance(event, EscrowOpened)
    assert event.escrow_id == "assets"
    record = w.s.escrows.get("assets")
    assert record is not None
    assert (record.status, record.digest, record.opened_by, record.terms) == (
        EscrowStatus.OPEN, digest_of(t), "med/chair", t,
    )  # fmt: skip
    assert record.parties() == {"usa", "iran", "med"}
    with pytest.raises(TrackStateError, match="escrow assets already exists"):
        open_escrow(w)
    with pytest.raises(NotAuthorizedError, match="may not open escrows"):
        open_escrow(w, terms(w, "other"), by="usa/lead")


def test_open_names_every_bad_party_metric_and_time(w: World) -> None:
    bad = terms(
        w,
        "bad",
        items=(EscrowItem("x", 1, "USD", "iaea", "nobody"), ITEM),
        signers=("usa", "swiss"),
        predicates=(PREDICATE, "iaea.stockpile_kg <= 300 sustained for 1 day"),
        expires_at=w.now,
    )
    size = len(w.events)
    with pytest.raises(SchemaViolationError) as caught:
        open_escrow(w, bad)
    assert fields_of(caught) == [
        "expires_at",
        "items.0.owner",
        "items.0.beneficiary",
        "signers.1",
        "predicates.1",
    ]
    assert "iaea is a inspector party, not a delegation party" in str(caught.value)
    assert "swiss is a witness party, not a delegation or mediator party" in str(caught.value)
    assert len(w.events) == size


# --- sign ------------------------------------------------------------------------------------------


def test_signer_principals_sign_the_digest_once(w: World) -> None:
    open_escrow(w)
    (signed,) = sign(w, "usa/lead")
    assert isinstance(signed, EscrowReleaseSigned)
    assert signed.party == "usa"
    sign(w, "med/chair")
    record = w.s.escrows.get("assets")
    assert record is not None
    assert record.signed_by == ("usa", "med")
    w.enroll("usa/second", Role.PRINCIPAL)
    with pytest.raises(TrackStateError, match="usa already signed"):
        sign(w, "usa/second")


def test_who_may_not_sign(w: World) -> None:
    open_escrow(w)
    with pytest.raises(NotAuthorizedError, match="only a principal of usa, med may"):
        sign(w, "usa/aide")
    with pytest.raises(NotAuthorizedError, match="only a principal of usa, med may"):
        sign(w, "iran/lead")
    with pytest.raises(UnknownEscrowError, match="no escrow 'assets' visible to iaea"):
        sign(w, "iaea/lead")
    with pytest.raises(UnknownEscrowError):
        sign(w, "usa/lead", "nothing", b"\x00" * 32)
    with pytest.raises(TrackStateError, match="names digest 0000"):
        sign(w, "usa/lead", digest=b"\x00" * 32)


def test_no_signature_after_expiry_or_release(w: World) -> None:
    open_escrow(w, terms(w, expires_at=w.now + DAY))
    w.tick(86400)
    with pytest.raises(TrackStateError, match="expired at"):
        sign(w, "usa/lead")
    expire(w)
    with pytest.raises(TrackStateError, match="already refunded"):
        sign(w, "usa/lead")


# --- release and the check -------------------------------------------------------------------------


def test_release_is_refused_with_the_progress_then_succeeds(w: World) -> None:
    open_escrow(w)
    size = len(w.events)
    with pytest.raises(EscrowConditionError) as caught:
        release(w)
    assert caught.value.check.reason == f"0 of 2 signatures; predicate `{PREDICATE}` held 0 of 30 days"
    assert str(caught.value).startswith("escrow assets cannot be released: 0 of 2 signatures")
    sign(w, "usa/lead")
    daily_quorum(w, 12)
    with pytest.raises(EscrowConditionError, match=r"1 of 2 signatures; predicate .* held 12 of 30 days"):
        release(w)
    sign(w, "med/chair")
    progress = check(w)
    assert (progress.signatures, progress.threshold, progress.signers, progress.releasable) == (
        2,
        2,
        2,
        False,
    )
    assert progress.predicates[0].held_units == 12
    daily_quorum(w, 18, end=w.now - 12 * DAY)
    assert len(w.events) > size
    ready = check(w)
    assert ready.releasable
    assert ready.reason == f"releasable: 2 of 2 signatures; predicate `{PREDICATE}` held 30 of 30 days"
    (released,) = release(w, "usa/watch")  # anyone of a party that sees it may ask
    assert isinstance(released, EscrowReleased)
    assert (released.signed_by, released.reason) == (("usa", "med"), ready.reason)
    record = w.s.escrows.get("assets")
    assert record is not None
    assert (record.status, record.closed_by) == (EscrowStatus.RELEASED, "usa/watch")
    assert check(w).reason.startswith("released at 2026-03-01T09:01:00.000000Z; 2 of 2 signatures")
    with pytest.raises(TrackStateError, match="already released"):
        release(w)
    w.tick(100 * 86400)
    with pytest.raises(TrackStateError, match="already released"):
        expire(w)


def test_one_failing_counted_value_breaks_the_window(w: World) -> None:
    open_escrow(w)
    sign(w, "usa/lead")
    sign(w, "med/chair")
    daily_quorum(w, 30)
    assert check(w).releasable
    attest(w, "iaea/lead", 3.9)
    attest(w, "euratom/lead", 3.95)  # today's counted value: 3.9 > 3.67
    assert check(w).predicates[0].held_units == 0
    with pytest.raises(EscrowConditionError, match="held 0 of 30 days"):
        release(w)


def test_release_is_refused_after_expiry_even_if_the_condition_held(w: World) -> None:
    open_escrow(w, terms(w, expires_at=w.now + DAY))
    sign(w, "usa/lead")
    sign(w, "med/chair")
    daily_quorum(w, 30)
    assert check(w).releasable
    w.tick(86400)
    with pytest.raises(EscrowConditionError, match=r"expired at .* \(it refunds\)"):
        release(w)


def test_who_may_ask_for_a_release(w: World) -> None:
    open_escrow(w)
    with pytest.raises(UnknownEscrowError):
        release(w, "iaea/lead")
    with pytest.raises(UnknownEscrowError):
        release(w, "iran/lead", "nothing")
    for member in ("iran/watcher", "med/service", "usa/aide"):
        with pytest.raises(EscrowConditionError):
            release(w, member)


def test_a_predicate_over_an_undefined_metric_never_holds(w: World) -> None:
    open_escrow(w)
    record = w.s.escrows.get("assets")
    assert record is not None
    result = check_escrow(record, EMPTY_ATTESTATIONS, w.now)
    assert not result.releasable
    assert result.predicates[0].note == "metric iaea.enrichment_pct is not defined on this track"
    with pytest.raises(EscrowConditionError, match="is not defined on this track"):
        require_releasable(record, EMPTY_ATTESTATIONS, w.now)


# --- expiry ----------------------------------------------------------------------------------------


def test_the_service_refunds_at_expiry_and_only_then(w: World) -> None:
    open_escrow(w, terms(w, expires_at=w.now + DAY))
    with pytest.raises(TrackStateError, match="does not expire before"):
        expire(w)
    w.tick(86400)
    assert check(w).reason.startswith("expired at 2026-03-02T09:01:00.000000Z (it refunds); 0 of 2")
    with pytest.raises(NotAuthorizedError, match="may not expire escrows"):
        expire(w, "med/chair")
    (refunded,) = expire(w)
    assert isinstance(refunded, EscrowRefunded)
    record = w.s.escrows.get("assets")
    assert record is not None
    assert (record.status, record.closed_by) == (EscrowStatus.REFUNDED, "med/service")
    assert check(w).reason.startswith("refunded at")
    with pytest.raises(TrackStateError, match="already refunded"):
        expire(w)
    with pytest.raises(TrackStateError, match="already refunded"):
        release(w)
    with pytest.raises(UnknownEscrowError):
        expire(w, escrow_id="nothing")


# --- events, fold, visibility ----------------------------------------------------------------------


def test_escrow_events_round_trip_and_decode_strictly(w: World) -> None:
    open_escrow(w)
    open_escrow(w, terms(w, "short", expires_at=w.now + DAY))
    sign(w, "usa/lead")
    sign(w, "med/chair")
    daily_quorum(w, 30)
    release(w)
    w.tick(86400)
    expire(w, escrow_id="short")
    kinds = (EscrowOpened, EscrowReleaseSigned, EscrowReleased, EscrowRefunded)
    mine = [e for e in w.events if isinstance(e, kinds)]
    assert {type(e) for e in mine} == set(kinds)
    for event in mine:
        assert event_from_dict(event.to_dict()) == event
    opened = mine[0].to_dict()
    with pytest.raises(EncodingError, match="escrow.opened: .*threshold"):
        event_from_dict({**opened, "terms": {**opened["terms"], "threshold": 0}})
    with pytest.raises(EncodingError, match="escrow.refunded.escrow_id"):
        event_from_dict({**mine[-1].to_dict(), "escrow_id": "A"})


def test_the_fold_refuses_events_about_unknown_escrows(w: World) -> None:
    refunded = EscrowRefunded(by="med/service", at=w.now, command_digest=b"\x01" * 32, escrow_id="nothing")
    with pytest.raises(TrackStateError, match="cannot be applied"):
        evolve(w.s, refunded)


def test_who_sees_an_escrow(w: World) -> None:
    w.admit("uk")
    open_escrow(w)
    sign(w, "usa/lead")
    events = [e for e in w.events if isinstance(e, (EscrowOpened, EscrowReleaseSigned))]
    for member in ("med/chair", "med/service", "usa/lead", "usa/watch", "iran/lead", "iran/watcher"):
        assert all(visible_to(w.s, member, e) for e in events), member
    for member in ("uk/lead", "iaea/lead", "euratom/lead", "swiss/lead", "nobody/x"):
        assert not any(visible_to(w.s, member, e) for e in events), member
    ghost = EscrowRefunded(by="med/service", at=w.now, command_digest=b"\x01" * 32, escrow_id="ghost")
    assert not visible_to(w.s, "usa/lead", ghost)  # an event about an escrow the state lacks: fail closed


def test_an_inspector_named_in_an_escrow_sees_it(w: World) -> None:
    w.admit("uk", PartyKind.DELEGATION)
    t = terms(w, "uk-deal", items=(EscrowItem("x", 1, "GBP", "uk", "iran"),), signers=("uk",), threshold=1)
    open_escrow(w, t)
    opened = w.events[-1]
    assert visible_to(w.s, "uk/lead", opened)
    assert not visible_to(w.s, "usa/lead", opened)
    assert isinstance(opened, EscrowOpened)
    assert opened.escrow_id == "uk-deal"
    assert w.s.escrows.get("uk-deal") is not None
    assert timedelta(0) < t.expires_at - w.now
