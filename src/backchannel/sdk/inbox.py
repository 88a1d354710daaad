"""The inbox: leases, long polls, streams, presence and receipts: ``client.inbox``.

:meth:`InboxClient.lease`, :meth:`InboxClient.poll` (long poll) and
:meth:`InboxClient.stream` (Server-Sent Events, resumable with
``last_event_id``) return deliveries: ``message_id``, ``log_index``,
``priority``, ``attempt``, ``sender``, ``visible_until``, the log ``entry`` that
queued it (signed event, salt, leaf hash) and, for a verbatim forward, the
author's ``original`` signed command. :meth:`InboxClient.settle` signs a
``record_receipt`` whose items are ``[message_id, log_index]`` pairs, each
naming the log index of the entry that delivered that message, and whose
``receipt_digest`` is :func:`receipt_digest`: SHA-256 of the RFC 8785 canonical
JSON array of those pairs, sorted by message id.

This module does not verify a delivery's entry for you: pass
``entry["leaf_hash"]`` to ``client.log.verify_inclusion``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from backchannel.domain.receipts import ReceiptItem
from backchannel.errors import EncodingError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import receipt_digest as wire_receipt_digest
from backchannel.sdk.session import Session

__all__ = ["InboxClient", "Receivable", "receipt_digest", "receipt_items"]

Receivable: TypeAlias = Mapping[str, Any] | tuple[str, int] | ReceiptItem
"""What :meth:`InboxClient.settle` takes: a delivery, a ``(message_id, log_index)`` pair or an item."""


class InboxClient:
    """This member's party's deliveries."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def lease(self, track: str, max_n: int | None = None) -> list[dict[str, Any]]:
        """``POST .../inbox/lease``: lease this member's party's ready deliveries (at most ``max_n``)."""
        params = {} if max_n is None else {"max": max_n}
        answer = self._session.read_json(
            self._session.send("POST", f"/v1/tracks/{track}/inbox/lease", params=params)
        )
        return list(answer["deliveries"])

    def poll(self, track: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """``GET .../inbox/poll``: wait up to ``timeout`` seconds for deliveries (``[]`` if none)."""
        request = self._session.signed_request(
            "GET", f"/v1/tracks/{track}/inbox/poll", params={"timeout": timeout}, timeout=timeout + 10
        )
        return list(self._session.read_json(self._session.send_request(request))["deliveries"])

    def stream(
        self, track: str, last_event_id: int | None = None, timeout: float = 30.0
    ) -> Iterator[dict[str, Any]]:
        """``GET .../inbox/stream``: yield deliveries as Server-Sent Events arrive.

        The iteration ends when the service ends the stream (after ``timeout``
        seconds). To resume, call again with the last ``log_index`` seen as
        ``last_event_id``: deliveries leased before and possibly missed are sent again.

        Raises:
            ProblemError: the service refused the request.
        """
        request = self._session.signed_request(
            "GET", f"/v1/tracks/{track}/inbox/stream", params={"timeout": timeout}, timeout=timeout + 20
        )
        if last_event_id is not None:
            request.headers["Last-Event-ID"] = str(last_event_id)
        response = self._session.send_request(request, stream=True)
        try:
            if not response.is_success:
                response.read()
                self._session.read_json(response)
            for _, event, data in _sse_events(response.iter_lines()):
                if event == "delivery":
                    value = json.loads(data)
                    if not isinstance(value, dict):
                        raise EncodingError("a delivery event's data is not a JSON object")
                    yield value
        finally:
            response.close()

    def heartbeat(self, track: str) -> dict[str, Any]:
        """``POST .../heartbeat``: tell the service this member is alive."""
        return self._session.read_json(self._session.send("POST", f"/v1/tracks/{track}/heartbeat"))

    def presence(self, track: str) -> list[dict[str, Any]]:
        """``GET .../presence``: every party's liveness (mediator only)."""
        return list(self._session.get_json(f"/v1/tracks/{track}/presence")["parties"])

    def settle(
        self, track: str, deliveries: Iterable[Receivable], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Sign and send one ``record_receipt`` for ``deliveries``.

        Args:
            track: The track.
            deliveries: What to receipt: deliveries as :meth:`lease` returns them,
                ``(message_id, log_index)`` pairs or
                :class:`~backchannel.domain.receipts.ReceiptItem` s. Each names the
                log index of the entry that delivered the message to this party.
            idempotency_key: A retry key (one is generated when ``None``).

        The receipt's ``items`` are the distinct pairs, in the order given, and its
        ``receipt_digest`` is :func:`receipt_digest` of them. A receipt for messages
        already settled for this party is a no-op (``replayed``).
        """
        items = receipt_items(deliveries)
        body: dict[str, JSONValue] = {
            "items": [item.to_json() for item in items],
            "receipt_digest": receipt_digest(items).hex(),
        }
        return self._session.execute("record_receipt", body, track=track, idempotency_key=idempotency_key)


def receipt_items(deliveries: Iterable[Receivable]) -> tuple[ReceiptItem, ...]:
    """The distinct receipt items of ``deliveries`` (see :meth:`InboxClient.settle`), in order."""
    items: dict[ReceiptItem, None] = {}
    for delivery in deliveries:
        if isinstance(delivery, ReceiptItem):
            item = delivery
        elif isinstance(delivery, tuple):
            item = ReceiptItem(delivery[0], delivery[1])
        else:
            item = ReceiptItem(str(delivery["message_id"]), int(delivery["log_index"]))
        items[item] = None
    return tuple(items)


def receipt_digest(deliveries: Iterable[Receivable]) -> bytes:
    """The ``receipt_digest`` of a receipt for ``deliveries``, as the wire computes it.

    SHA-256 of the RFC 8785 canonical JSON array of the ``[message_id, log_index]``
    pairs, sorted by message id, each naming the log index that delivered that message::

        sha256(canonicalize([["<id a>", 17], ["<id b>", 21]]))
    """
    return wire_receipt_digest(receipt_items(deliveries))


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """Parse Server-Sent Events into ``(id, event, data)``; comments are skipped."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event_id, event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)
