"""Metrics and attestations (ADR-0017): ``client.attestations``.

:meth:`AttestationsClient.define_metric`, :meth:`AttestationsClient.attest` and
:meth:`AttestationsClient.attest_daily` (one value per day for the days before
now, in one batch: how a demo back-fills a window).

This module does not check quorums (the service does).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.sdk.session import Session

__all__ = ["AttestationsClient"]


class AttestationsClient:
    """Define metrics and file attestations."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def define_metric(  # noqa: PLR0913 - the metric's rule, by name
        self,
        track: str,
        metric: str,
        *,
        unit: str,
        inspectors: Sequence[str],
        quorum: int,
        tolerance: float,
        tolerance_kind: str = "absolute",
        window_seconds: int = 86400,
        issue: str | None = None,
    ) -> dict[str, Any]:
        """Define a metric and its quorum rule (mediator principal): ``metric.defined``."""
        body: dict[str, JSONValue] = {
            "metric": metric, "unit": unit, "issue": issue, "inspectors": list(inspectors), "quorum": quorum,
            "tolerance": tolerance, "tolerance_kind": tolerance_kind, "window_seconds": window_seconds,
        }  # fmt: skip
        return self._session.execute("define_metric", body, track=track)

    def attest(  # noqa: PLR0913 - the measurement, by name
        self,
        track: str,
        metric: str,
        value: float,
        *,
        unit: str,
        site: str,
        observed_at: datetime | None = None,
    ) -> dict[str, Any]:
        """File an attestation (inspector): ``attestation.filed``, and any conflict or quorum it causes.

        A quorum is followed by the metering of every obligation on the metric
        (``obligation.metered``, ``obligation.escalated``: ADR-0018).
        ``observed_at`` defaults to now (this client's clock).
        """
        return self._session.execute(
            "file_attestation",
            _attestation(metric, value, unit, site, observed_at or self._session.clock.now()),
            track=track,
        )

    def attest_daily(  # noqa: PLR0913 - the measurements, by name
        self,
        track: str,
        metric: str,
        values: Sequence[float],
        *,
        unit: str,
        site: str,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """File ``values[i]`` as observed ``len(values) - i`` days before ``end`` (default now), in one batch.

        The last value is for the day before ``end``: a window of whole days that
        ends with the day just past (see ``BackchannelClient.send_batch`` for the results).
        """
        end = end or self._session.clock.now()
        days = len(values)
        return self._session.execute_many(
            (
                ("file_attestation", _attestation(metric, v, unit, site, end - timedelta(days=days - i)))
                for i, v in enumerate(values)
            ),
            track=track,
        )


def _attestation(
    metric: str, value: float, unit: str, site: str, observed_at: datetime
) -> dict[str, JSONValue]:
    return {
        "metric": metric,
        "value": value,
        "unit": unit,
        "observed_at": format_timestamp(observed_at),
        "site": site,
    }
