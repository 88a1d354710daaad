"""An escrow's terms: what is held, for whom, and the condition that releases it.

:class:`EscrowTerms` is checked whole on construction and refused with one
:class:`~backchannel.domain.errors.SchemaViolationError` naming every bad
field. It **fails closed**: no signer (``signers`` empty), a zero threshold,
a threshold above the number of signers (k > n), no predicate, or a
malformed predicate is an error here, so no escrow can be opened (or decoded
from the log) with a condition that is trivially true or cannot be evaluated.

The release condition is **k-of-n signatures AND every predicate**:

- ``signers`` names n parties (delegations or the mediator); a principal of
  each may sign the release once, for its party; ``threshold`` is k;
- ``predicates`` are attestation predicates
  (:mod:`~backchannel.domain.agreements.predicates`), held in their normal form.

:meth:`EscrowTerms.to_dict` is the JSON form whose RFC 8785 canonical SHA-256
is the escrow's digest (the service computes it; signers sign it), and
:meth:`EscrowTerms.from_dict` decodes it strictly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from backchannel.domain.agreements.attestation_commands import (
    number_violations,
    party_list_violations,
    text_violations,
)
from backchannel.domain.agreements.predicates import Predicate, PredicateSyntaxError, parse_predicate
from backchannel.domain.codec import LOG, LOG_STYLE, At, Codec, Integer, Reader, Text, Time, Using
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.ids import check_party_id
from backchannel.domain.keys import is_aware, time_text
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "MAX_ITEMS",
    "MAX_PREDICATES",
    "MAX_SIGNERS",
    "EscrowItem",
    "EscrowTerms",
    "check_escrow_id",
]

MAX_ITEMS = 32
"""At most this many items in one escrow."""
MAX_SIGNERS = 32
"""At most this many signer parties."""
MAX_PREDICATES = 8
"""At most this many predicates."""
_ESCROW_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TERMS_FIELDS = frozenset({"escrow_id", "items", "signers", "threshold", "predicates", "expires_at"})
_ITEM_FIELDS = frozenset({"what", "amount", "unit", "owner", "beneficiary"})


def check_escrow_id(value: object, field: str = "escrow_id") -> list[Violation]:
    """Violations of an escrow id ``[a-z0-9][a-z0-9._-]{0,63}`` (empty when valid)."""
    if not isinstance(value, str) or not _ESCROW_ID.fullmatch(value):
        return [
            Violation(
                field, "pattern", f"{field}: {str(value)[:80]!r} does not match [a-z0-9][a-z0-9._-]{{0,63}}"
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class EscrowItem:
    """One item held: ``amount`` ``unit`` of ``what``, owned by ``owner``, for ``beneficiary``.

    Checked by :class:`EscrowTerms` (the fields are named ``items.<i>.<field>`` there).
    """

    what: str
    amount: float
    unit: str
    owner: str
    beneficiary: str

    def violations(self, where: str) -> list[Violation]:
        """Every malformed field, named under ``where``."""
        amount = number_violations(self.amount, f"{where}.amount")
        if not amount and self.amount <= 0:
            amount.append(Violation(f"{where}.amount", "minimum", f"{where}.amount: must be above 0"))
        found = text_violations(self.what, f"{where}.what", 200) + amount
        found += text_violations(self.unit, f"{where}.unit", 16)
        parties = check_party_id(self.owner, f"{where}.owner") + check_party_id(
            self.beneficiary, f"{where}.beneficiary"
        )
        if not parties and self.owner == self.beneficiary:
            parties.append(
                Violation(
                    f"{where}.beneficiary", "distinct", f"{where}.beneficiary: must differ from the owner"
                )
            )
        return found + parties

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            "what": self.what,
            "amount": self.amount,
            "unit": self.unit,
            "owner": self.owner,
            "beneficiary": self.beneficiary,
        }


@dataclass(frozen=True, slots=True)
class EscrowTerms:
    """What an escrow holds and what releases it (see the module docstring).

    Attributes:
        escrow_id: Its id in the track, chosen by the mediator.
        items: What is held (1 to :data:`MAX_ITEMS`).
        signers: The n parties whose principals may sign the release.
        threshold: k, how many of them must sign (1 <= k <= n).
        predicates: The predicates' normal forms (1 to :data:`MAX_PREDICATES`).
        expires_at: From this instant it cannot be released and refunds.
        parsed: The parsed predicates (derived).
    """

    escrow_id: str
    items: tuple[EscrowItem, ...]
    signers: tuple[str, ...]
    threshold: int
    predicates: tuple[str, ...]
    expires_at: datetime
    parsed: tuple[Predicate, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Check every field (see the module docstring); normalise the predicates."""
        found = check_escrow_id(self.escrow_id)
        found += self._item_violations()
        signers = party_list_violations(self.signers, "signers", MAX_SIGNERS)
        n = MAX_SIGNERS if signers else len(self.signers)
        threshold: object = self.threshold
        if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= n:
            signers.append(
                Violation(
                    "threshold",
                    "range",
                    f"threshold: k of n signatures needs 1 <= k <= n = {n}, got {threshold!r:.40}",
                )
            )
        found += signers + self._parse()
        if not is_aware(self.expires_at):
            found.append(Violation("expires_at", "type", "expires_at: expected an aware time"))
        if found:
            raise SchemaViolationError(found)

    def _item_violations(self) -> list[Violation]:
        items: object = self.items
        if not isinstance(items, tuple) or not 0 < len(items) <= MAX_ITEMS:
            return [Violation("items", "items", f"items: expected 1 to {MAX_ITEMS} items")]
        found: list[Violation] = []
        for i, item in enumerate(items):
            if not isinstance(item, EscrowItem):
                found.append(Violation(f"items.{i}", "type", f"items.{i}: expected an item"))
            else:
                found += item.violations(f"items.{i}")
        return found

    def _parse(self) -> list[Violation]:
        texts: object = self.predicates
        if not isinstance(texts, tuple) or not 0 < len(texts) <= MAX_PREDICATES:
            return [
                Violation(
                    "predicates",
                    "items",
                    f"predicates: expected 1 to {MAX_PREDICATES} predicates (the release condition "
                    "is signatures AND predicates)",
                )
            ]
        found: list[Violation] = []
        parsed: list[Predicate] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                found.append(Violation(f"predicates.{i}", "type", f"predicates.{i}: expected text"))
                continue
            try:
                parsed.append(parse_predicate(text))
            except PredicateSyntaxError as e:
                found.append(Violation(f"predicates.{i}", "predicate", f"predicates.{i}: {e}"))
        normal = tuple(p.text for p in parsed)
        if not found and len(set(normal)) != len(normal):
            found.append(Violation("predicates", "unique", "predicates: duplicates"))
        if not found:
            object.__setattr__(self, "predicates", normal)
            object.__setattr__(self, "parsed", tuple(parsed))
        return found

    @property
    def condition_text(self) -> str:
        """``2 of (usa, qatar) AND <predicate> AND ...``."""
        return " AND ".join((f"{self.threshold} of ({', '.join(self.signers)})", *self.predicates))

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (its canonical SHA-256 is the escrow's digest)."""
        return {
            "escrow_id": self.escrow_id,
            "items": [item.to_dict() for item in self.items],
            "signers": list(self.signers),
            "threshold": self.threshold,
            "predicates": list(self.predicates),
            "expires_at": time_text(self.expires_at),
        }

    @classmethod
    def from_dict(cls, value: JSONValue, where: str = "terms") -> EscrowTerms:
        """Decode the JSON form strictly.

        Raises:
            EncodingError: not an object, unknown or missing fields, or a field
                of the wrong JSON type (named).
            SchemaViolationError: a field of the right type but the wrong shape.
        """
        r = Reader(value, _TERMS_FIELDS, At(where, LOG_STYLE))
        items = _array(r, "items", where)
        signers = _array(r, "signers", where)
        predicates = _array(r, "predicates", where)
        return cls(
            escrow_id=r.read("escrow_id", Text(64)),
            items=tuple(_item(item, f"{where}.items.{i}") for i, item in enumerate(items)),
            signers=tuple(_string(s, f"{where}.signers.{i}") for i, s in enumerate(signers)),
            threshold=r.read("threshold", Integer(0)),
            predicates=tuple(_string(p, f"{where}.predicates.{i}") for i, p in enumerate(predicates)),
            expires_at=r.read("expires_at", Time()),
        )


def _array(reader: Reader, name: str, where: str) -> tuple[JSONValue, ...]:
    value = reader.raw(name)
    if not isinstance(value, (list, tuple)):
        raise EncodingError(f"{where}.{name}: expected an array")
    return tuple(value)


def _string(value: JSONValue, where: str) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{where}: expected a string")
    return value


def _item(value: JSONValue, where: str) -> EscrowItem:
    r = Reader(value, _ITEM_FIELDS, At(where, LOG_STYLE))
    amount = r.raw("amount")
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        raise EncodingError(f"{where}.amount: expected a number")
    return EscrowItem(
        what=_string(r.raw("what"), f"{where}.what"),
        amount=amount,
        unit=_string(r.raw("unit"), f"{where}.unit"),
        owner=_string(r.raw("owner"), f"{where}.owner"),
        beneficiary=_string(r.raw("beneficiary"), f"{where}.beneficiary"),
    )


_TERMS: Codec[EscrowTerms] = Using(EscrowTerms.from_dict, EscrowTerms.to_dict)
LOG.register(EscrowTerms, _TERMS)
