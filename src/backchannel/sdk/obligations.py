"""Obligations (ADR-0018): ``client.obligations``.

:meth:`ObligationsClient.define` (mediator principal) and
:meth:`ObligationsClient.record_consumption` (an inspector, or the service) sign
the two commands; :meth:`ObligationsClient.get` reads the terms, the current
level and tokens, and the ladder history.

This module does not meter anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.sdk.session import Session

__all__ = ["ObligationsClient"]


class ObligationsClient:
    """Define obligations, record consumption, read them."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def define(self, track: str, terms: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Sign and send ``define_obligation`` with ``terms`` (the command's body; mediator principal).

        ``terms``: ``obligation``, ``party``, ``metric``, ``unit``, ``rate``,
        ``burst`` (numbers in ``unit``), ``period_seconds``, ``ladder``,
        ``hold_seconds``, ``recovery_pct`` and optionally ``shared_with``
        (default: none).
        """
        body: dict[str, JSONValue] = {"shared_with": [], **terms}
        return self._session.execute("define_obligation", body, track=track)

    def record_consumption(  # noqa: PLR0913 - the record's fields, by name
        self,
        track: str,
        obligation: str,
        amount: float,
        unit: str,
        *,
        observed_at: datetime | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Sign and send ``record_consumption`` (an inspector, or the service); observed now by default."""
        body: dict[str, JSONValue] = {
            "obligation": obligation,
            "amount": amount,
            "unit": unit,
            "observed_at": format_timestamp(observed_at or self._session.clock.now()),
            "source": source,
        }
        return self._session.execute("record_consumption", body, track=track)

    def get(self, track: str, obligation: str) -> dict[str, Any]:
        """``GET .../obligations/{id}``: the terms, level, tier, tokens, next step down and history.

        Raises:
            ProblemError: 404 for an obligation that does not exist or that this member may not see.
        """
        return self._session.get_json(f"/v1/tracks/{track}/obligations/{obligation}")
