"""Receipt items: what a recipient's receipt says about each message it settles.

A receipt (:class:`~backchannel.domain.commands.RecordReceipt`) covers one or
more messages. For each it names a :class:`ReceiptItem`: the message id and
the log index of the entry that delivered that message to the signer's party
(the ``message.forwarded`` or ``message.reframed`` entry; the ``log_index``
the delivery API shows the recipient). The pair is what the recipient signs
for that message, so each message's receipt can be proven on its own: the
signed receipt command holds the pair, and its ``receipt_digest`` is SHA-256
of the RFC 8785 canonical JSON array of every pair, sorted by message id::

    [["<message id a>", 17], ["<message id b>", 21]]

(the service checks the digest where it has canonical JSON: ``backchannel.protocol.wire``).

The JSON form of one item is the two-element array ``[message_id, log_index]``.

This module does not decide whether a receipt is allowed
(:func:`backchannel.domain.track.decide` does) and does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backchannel.domain.codec import LOG, Using
from backchannel.domain.errors import Violation
from backchannel.domain.ids import check_message_id
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "CHECKED_RECEIPT_ITEMS",
    "MAX_RECEIPT_MESSAGES",
    "RECEIPT_ITEMS",
    "ReceiptItem",
    "check_receipt_items",
    "receipt_items_from_json",
]

MAX_RECEIPT_MESSAGES = 1024
"""At most this many messages per receipt."""


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    """One message a receipt settles, and where it was delivered.

    Attributes:
        message_id: The message (64 lowercase hex).
        log_index: The log index of the entry that delivered it to the signer's party.
    """

    message_id: str
    log_index: int

    def to_json(self) -> list[JSONValue]:
        """The JSON form, ``[message_id, log_index]``."""
        return [self.message_id, self.log_index]


def check_receipt_items(items: object, field: str = "items") -> list[Violation]:
    """Violations of a receipt's items (empty when valid).

    The items are a tuple of 1 to :data:`MAX_RECEIPT_MESSAGES`
    :class:`ReceiptItem` s, each with a well-formed message id and a log index
    >= 0, and no message id twice.
    """
    if not isinstance(items, tuple):
        return [Violation(field, "type", f"{field}: expected a tuple of receipt items")]
    if not items:
        return [Violation(field, "min_items", f"{field}: expected at least one")]
    if len(items) > MAX_RECEIPT_MESSAGES:
        return [Violation(field, "max_items", f"{field}: at most {MAX_RECEIPT_MESSAGES}")]
    found: list[Violation] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"{field}.{index}"
        if not isinstance(item, ReceiptItem):
            found.append(Violation(where, "type", f"{where}: expected a ReceiptItem"))
            continue
        found += check_message_id(item.message_id, f"{where}.message_id")
        log_index: object = item.log_index
        if not isinstance(log_index, int) or isinstance(log_index, bool) or log_index < 0:
            found.append(
                Violation(
                    f"{where}.log_index",
                    "minimum",
                    f"{where}.log_index: expected an integer >= 0, got {log_index!r}",
                )
            )
        earlier = first.setdefault(item.message_id, index)
        if earlier != index:
            found.append(
                Violation(
                    f"{where}.message_id",
                    "unique",
                    f"{where}.message_id: message {item.message_id} is already {field}.{earlier}",
                )
            )
    return found


def receipt_items_from_json(value: JSONValue, field: str) -> tuple[ReceiptItem, ...]:
    """Read an array of ``[message_id, log_index]`` pairs (the types only; see :func:`check_receipt_items`).

    Raises:
        EncodingError: not an array of two-element arrays of a string and an
            integer; the message names the first bad element (``body.items.2``).
    """
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise EncodingError(f"{field}: expected an array of [message_id, log_index] pairs")
    items: list[ReceiptItem] = []
    for index, pair in enumerate(value):
        if (
            not isinstance(pair, Sequence)
            or isinstance(pair, str)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], int)
            or isinstance(pair[1], bool)
        ):
            raise EncodingError(
                f"{field}.{index}: expected [message_id, log_index] (a string and an integer)"
            )
        items.append(ReceiptItem(pair[0], pair[1]))
    return tuple(items)


def _items_to_json(items: tuple[ReceiptItem, ...]) -> JSONValue:
    return [item.to_json() for item in items]


def _checked_items_from_json(value: JSONValue, field: str) -> tuple[ReceiptItem, ...]:
    items = receipt_items_from_json(value, field)
    violations = check_receipt_items(items, field)
    if violations:
        raise EncodingError(violations[0].message)
    return items


RECEIPT_ITEMS = Using(receipt_items_from_json, _items_to_json)
"""The codec of a receipt's items, ``[[message_id, log_index], ...]`` (the types only)."""
CHECKED_RECEIPT_ITEMS = Using(_checked_items_from_json, _items_to_json)
"""Like :data:`RECEIPT_ITEMS`, refusing items :func:`check_receipt_items` refuses (the log's events)."""

LOG.register(tuple[ReceiptItem, ...], RECEIPT_ITEMS)
