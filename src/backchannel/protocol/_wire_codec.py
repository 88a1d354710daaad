"""The wire's JSON forms (private to :mod:`backchannel.protocol.wire`): the WIRE format and bodies.

Each command's ``body`` is the command's dataclass fields, less the envelope's
(which the signed payload carries) and less the one digest the wire computes
itself (``agenda_digest``, ``deal_hash``, ``escrow_digest``). The fields are
read through :data:`WIRE`, a format derived from the log's
(:data:`backchannel.domain.codec.LOG`) with the wire's own field codecs,
registered once here:

- public keys as standard base64 (:class:`GrantedKey`), where events use hex;
- instants as canonical UTC timestamps (``backchannel.log.records``' parser);
- text, integers and enum values checked for their JSON type only: their
  shape is the domain command's to refuse, with a field-level
  :class:`~backchannel.domain.errors.SchemaViolationError`;
- message bodies, deals and escrow terms as JSON objects.

Errors name the field's path in the wire's words (``body.to_parties.2:
expected a string, got an integer``). This module does not sign, verify or
parse the signed envelope (:mod:`backchannel.protocol.wire` does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import cast

from backchannel.domain.agenda import Agenda
from backchannel.domain.agreements.deal_commands import DraftDeal, PrepareDeal
from backchannel.domain.agreements.deals import Deal
from backchannel.domain.agreements.escrow_commands import OpenEscrow
from backchannel.domain.agreements.escrow_terms import EscrowTerms
from backchannel.domain.codec import (
    LOG,
    At,
    Body,
    Choice,
    Codec,
    Integer,
    Optional,
    Reader,
    Schema,
    Style,
    Text,
    Using,
    build,
    json_type,
)
from backchannel.domain.command_envelope import Command, CommandEnvelope
from backchannel.domain.commands import ProposeAgenda, RecordReceipt
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.features import REGISTRY
from backchannel.domain.keys import NewKey
from backchannel.domain.receipts import ReceiptItem
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError
from backchannel.log.canonical import canonicalize
from backchannel.log.records import format_timestamp, parse_rfc3339
from backchannel.log.signing import b64decode, b64encode

__all__ = [
    "WIRE",
    "WIRE_STYLE",
    "GrantedKey",
    "agenda_digest",
    "command_body",
    "deal_hash",
    "escrow_digest",
    "read_body",
    "receipt_digest",
]

_KEY_SIZE = 32
_ENVELOPE = frozenset(f.name for f in CommandEnvelope.__dataclass_fields__.values())

WIRE_STYLE = Style("an array", json_type, json_type, paths=True)
"""The wire's wording: a bad value is named by its JSON type; unknown fields by their paths."""


class Base64Key(Codec[bytes]):
    """A 32-byte public key in canonical standard base64."""

    def decode(self, raw: JSONValue, at: At) -> bytes:
        """The key. Raises: EncodingError: not 32 bytes of canonical base64."""
        if not isinstance(raw, str):
            raise at.fail("base64 text", raw)
        return b64decode(raw, field=at.path, length=_KEY_SIZE)

    def encode(self, value: object) -> JSONValue:
        """Standard base64 with padding."""
        return b64encode(cast("bytes", value))


class Timestamp(Codec[datetime]):
    """An RFC 3339 instant of any fractional precision (issue #8), written as canonical UTC text.

    The signed payload keeps the text as it was sent; this is only the decoded instant.
    """

    def decode(self, raw: JSONValue, at: At) -> datetime:
        """The instant. Raises: EncodingError: not a string, or not RFC 3339."""
        return parse_rfc3339(Text().decode(raw, at), field=at.path)

    def encode(self, value: object) -> JSONValue:
        """UTC text."""
        return format_timestamp(cast("datetime", value))


_KEY, _TIMESTAMP = Base64Key(), Timestamp()
_KEY_FIELDS = frozenset({"key_id", "ed25519", "x25519", "expires_at"})


class GrantedKey(Codec[NewKey]):
    """A key to enrol: ``{"key_id", "ed25519": base64, "x25519": base64, "expires_at": timestamp or null}``.

    Its id's shape and derivation are :class:`NewKey`'s to check: a
    :class:`SchemaViolationError` named where the key is (``body.new_key.key_id``).
    """

    def decode(self, raw: JSONValue, at: At) -> NewKey:
        """The key. Raises: EncodingError or SchemaViolationError (see the class docstring)."""
        reader = Reader(raw, _KEY_FIELDS, at)
        key_id = reader.read("key_id", Text())
        ed25519, x25519 = reader.read("ed25519", _KEY), reader.read("x25519", _KEY)
        expires_at = reader.read("expires_at", Optional(_TIMESTAMP))
        try:
            return NewKey(key_id, ed25519, x25519, expires_at)
        except SchemaViolationError as e:  # NewKey names its fields "key.*": name them where they are
            raise SchemaViolationError([_moved(v, "key", at.path) for v in e.violations]) from e

    def encode(self, value: object) -> JSONValue:
        """The JSON form."""
        return self.to_dict(cast("NewKey", value))

    @staticmethod
    def to_dict(key: NewKey) -> dict[str, JSONValue]:
        """The JSON form of ``key`` as a dict."""
        return {
            "key_id": key.key_id,
            "ed25519": b64encode(key.ed25519),
            "x25519": b64encode(key.x25519),
            "expires_at": None if key.expires_at is None else format_timestamp(key.expires_at),
        }


def _moved(violation: Violation, old: str, new: str) -> Violation:
    """The violation with its field path (and message prefix) ``old`` renamed ``new``."""
    return Violation(
        new + violation.field.removeprefix(old), violation.rule, new + violation.message.removeprefix(old)
    )


def _lenient(kind: type[StrEnum]) -> Codec[object]:
    return Choice(kind, strict=False)


def _deal(raw: JSONValue, path: str) -> Deal:
    del path  # the deal's violations name their paths inside it
    return Deal.from_dict(raw)


def _terms(raw: JSONValue, path: str) -> EscrowTerms:
    return EscrowTerms.from_dict(dict(cast("Mapping[str, JSONValue]", raw)), path)


_DEAL: Codec[Deal] = Using(_deal, Deal.to_dict, object_only=True)
_TERMS: Codec[EscrowTerms] = Using(_terms, EscrowTerms.to_dict, object_only=True)

WIRE = LOG.derive(
    WIRE_STYLE,
    {
        str: Text(),
        int: Integer(),
        datetime: _TIMESTAMP,
        Mapping: Body(frozen=False),
        NewKey: GrantedKey(),
        Deal: _DEAL,
        EscrowTerms: _TERMS,
    },
    choice=_lenient,
)
"""The wire's format: the log's, with the wire's codecs (see the module docstring)."""


def agenda_digest(agenda: Agenda) -> bytes:
    """SHA-256 of the canonical JSON of ``agenda.to_dict()``: what ratifications name."""
    return hashlib.sha256(canonicalize(agenda.to_dict())).digest()


def deal_hash(deal: Deal) -> bytes:
    """SHA-256 of the canonical JSON of ``deal.to_dict()``: what a deal's voters sign (issue #4)."""
    return hashlib.sha256(canonicalize(deal.to_dict())).digest()


def escrow_digest(terms: EscrowTerms) -> bytes:
    """SHA-256 of the canonical JSON of ``terms.to_dict()``: what release signatures name (ADR-0017)."""
    return hashlib.sha256(canonicalize(terms.to_dict())).digest()


def receipt_digest(items: Iterable[ReceiptItem]) -> bytes:
    """The ``receipt_digest`` a receipt for ``items`` must carry.

    SHA-256 of the RFC 8785 canonical JSON array of the items'
    ``[message_id, log_index]`` pairs, sorted by message id::

        sha256(canonicalize([["<id a>", 17], ["<id b>", 21]]))

    Raises:
        EncodingError: a log index canonical JSON cannot carry exactly (beyond 2^53).
    """
    pairs: list[JSONValue] = [item.to_json() for item in sorted(items, key=lambda item: item.message_id)]
    return hashlib.sha256(canonicalize(pairs)).digest()


_DERIVED: dict[type[Command], tuple[str, Callable[[Mapping[str, object]], bytes]]] = {
    ProposeAgenda: ("agenda_digest", lambda body: agenda_digest(cast("Agenda", body["agenda"]))),
    DraftDeal: ("deal_hash", lambda body: deal_hash(cast("Deal", body["deal"]))),
    PrepareDeal: ("deal_hash", lambda body: deal_hash(cast("Deal", body["deal"]))),
    OpenEscrow: ("escrow_digest", lambda body: escrow_digest(cast("EscrowTerms", body["terms"]))),
}
"""The digest the wire computes for a command, and how: never the client's to send."""

_BODY = At("body", WIRE_STYLE)  # kept: the paths of the body's fields are made once

_BODIES: dict[type[Command], Schema] = {
    kind: Schema(kind, WIRE, skip=_ENVELOPE | {_DERIVED.get(kind, ("",))[0]})
    for kind in REGISTRY.commands.values()
}


def read_body(kind: type[Command], raw: JSONValue, envelope: Mapping[str, object]) -> Command:
    """The command of class ``kind`` whose body is ``raw``, with the ``envelope`` fields given.

    Raises:
        EncodingError: unknown, missing or mistyped body fields (``body.<field>``).
        SchemaViolationError: the command's own shape checks.
    """
    schema = _BODIES[kind]
    values = schema.read(schema.reader(raw, _BODY))
    if kind in _DERIVED:
        name, derive = _DERIVED[kind]
        values[name] = derive(values)
    command = build(kind, {**envelope, **values})
    if isinstance(command, RecordReceipt):
        _check_receipt_digest(command)
    return command


def _check_receipt_digest(command: RecordReceipt) -> None:
    expected = receipt_digest(command.items)
    if command.receipt_digest != expected:
        raise SchemaViolationError(
            [
                Violation(
                    "receipt_digest",
                    "digest",
                    "receipt_digest: expected SHA-256 of the RFC 8785 canonical JSON array of the items "
                    f"sorted by message id ({expected.hex()}), got {command.receipt_digest.hex()}",
                )
            ]
        )


def command_body(command: Command) -> dict[str, JSONValue]:
    """The JSON body of a domain command (the inverse of :func:`read_body`).

    Raises:
        EncodingError: ``command`` is not one of the domain's commands.
    """
    schema = _BODIES.get(type(command))
    if schema is None:
        raise EncodingError(f"not a command: {type(command).__name__}")
    return schema.to_dict(command)
