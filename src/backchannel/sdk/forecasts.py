"""Forecasts on a live track (ADR-0045): ``client.forecasts``.

:meth:`ForecastsClient.declare` signs ``declare_actor_positions`` (the
mediator's staff; private to the mediator), :meth:`ForecastsClient.request`
asks the service to compute and record a forecast, :meth:`ForecastsClient.list`
reads the forecasts this member may see (each with its age and staleness),
:meth:`ForecastsClient.declarations` the positions in force (the mediator's
staff), and :meth:`ForecastsClient.share` signs ``share_forecast``.

This module runs no model: the service does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from backchannel.errors import EncodingError
from backchannel.log.canonical import JSONValue
from backchannel.sdk.session import Session

__all__ = ["ForecastsClient", "declaration_body"]

_ACTOR_DEFAULTS: dict[str, JSONValue] = {"position": None, "value": None}


def declaration_body(issues: Iterable[object]) -> dict[str, JSONValue]:
    """The ``declare_actor_positions`` body of ``issues`` (``reference``, ``position``, ``value`` optional).

    Each issue is ``{"issue", "reference"?, "actors": [{"actor", "position" or
    "value", "salience", "capability"}]}``; a missing optional field is sent as
    ``null``. The server checks everything else, naming the field.

    Raises:
        EncodingError: an issue or actor is not a JSON object.
    """
    out: list[JSONValue] = []
    for n, issue in enumerate(issues):
        if not isinstance(issue, Mapping) or not isinstance(issue.get("actors"), Sequence):
            raise EncodingError(f"issues.{n}: expected an object with a list of actors")
        actors: list[JSONValue] = []
        for i, actor in enumerate(cast("Sequence[object]", issue["actors"])):
            if not isinstance(actor, Mapping):
                raise EncodingError(f"issues.{n}.actors.{i}: expected an object")
            actors.append({**_ACTOR_DEFAULTS, **actor})
        out.append({"reference": None, **issue, "actors": actors})
    return {"issues": out}


class ForecastsClient:
    """Declare positions, request, read and share forecasts."""

    def __init__(self, session: Session) -> None:
        """Bind to the client's signed transport."""
        self._session = session

    def declare(self, track: str, issues: Iterable[object]) -> dict[str, Any]:
        """Sign and send ``declare_actor_positions`` (see :func:`declaration_body`)."""
        return self._session.execute("declare_actor_positions", declaration_body(issues), track=track)

    def request(self, track: str) -> dict[str, Any]:
        """``POST .../forecasts``: compute and record a forecast; its id, log index and view."""
        _, document = self._session.post_json(f"/v1/tracks/{track}/forecasts", {})
        return document

    def list(self, track: str) -> dict[str, Any]:
        """``GET .../forecasts``: the forecasts this member may see, newest first, with age and staleness."""
        return self._session.get_json(f"/v1/tracks/{track}/forecasts")

    def declarations(self, track: str) -> dict[str, Any]:
        """``GET .../forecasts/declarations``: the positions in force (the mediator's staff only)."""
        return self._session.get_json(f"/v1/tracks/{track}/forecasts/declarations")

    def share(self, track: str, forecast_id: str, parties: Sequence[str]) -> dict[str, Any]:
        """Sign and send ``share_forecast``: show the forecast to ``parties``."""
        body: dict[str, JSONValue] = {"forecast_id": forecast_id, "parties": list(parties)}
        return self._session.execute("share_forecast", body, track=track)
