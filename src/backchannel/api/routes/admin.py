"""Admin reads: the caller's tracks, and the filters of the event search (issue #12, item 10).

- ``GET /v1/tracks``: the tracks whose members include the signing key, as an
  active key (RFC 9421 like every read; :meth:`Authenticator.memberships
  <backchannel.api.auth.Authenticator.memberships>`), each with its title,
  log size, the caller's member id, party, party kind and role. A key no
  served track knows gets 401, as on any track read; a key revoked or expired
  everywhere gets an empty list.
- The event search is ``GET /v1/tracks/{track}/events`` with ``type`` (repeatable),
  ``member``, ``since`` and ``until`` (:mod:`backchannel.api.routes.log`): the
  filters of :class:`EventFilter` apply only to the entries the reader may
  already see there, so a search never shows more than the plain read.

This module does not decide visibility (the domain's rules, through
:func:`~backchannel.api.context.visible`, do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from backchannel.api.context import ApiContext, read_body, threaded
from backchannel.errors import EncodingError
from backchannel.log.records import LogEntry, parse_timestamp

__all__ = ["EventFilter", "SearchQuery", "TrackSummary", "TracksResponse", "router", "search_filter"]


class TrackSummary(BaseModel):
    """One track the caller belongs to."""

    track: str
    title: str
    size: int = Field(description="log entries so far")
    member: str = Field(description="the caller's member id in this track")
    party: str
    party_kind: str = Field(description="mediator, delegation, witness or inspector")
    role: str = Field(description="principal, delegate, observer or service")


class TracksResponse(BaseModel):
    """The caller's tracks, in track order."""

    tracks: list[TrackSummary]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks", response_model=TracksResponse)
    async def get_tracks(request: Request) -> TracksResponse:
        """The tracks the signing key is an active member key of (a key no track knows: 401)."""
        await read_body(request)
        return await threaded(_tracks, ctx, request)

    return router


_Types = Annotated[list[str] | None, Query(alias="type", description="keep these event types")]
_Text = Annotated[str | None, Query(max_length=200, description="keep the commands of this member")]
_Since = Annotated[
    str | None, Query(max_length=64, description="keep entries created at or after (RFC 3339)")
]
_Until = Annotated[str | None, Query(max_length=64, description="keep entries created before (RFC 3339)")]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The event search's raw query parameters, parsed by :meth:`parse` once the reader is authenticated."""

    types: tuple[str, ...] = ()
    member: str | None = None
    since: str | None = None
    until: str | None = None

    def parse(self) -> EventFilter:
        """The filter (EncodingError naming ``since`` or ``until`` if malformed)."""
        return EventFilter.from_query(self.types, self.member, self.since, self.until)


def search_filter(
    types: _Types = None, member: _Text = None, since: _Since = None, until: _Until = None
) -> SearchQuery:
    """The event search's query parameters (a FastAPI dependency of ``GET .../events``)."""
    return SearchQuery(tuple(types or ()), member, since, until)


def _tracks(ctx: ApiContext, request: Request) -> TracksResponse:
    summaries: list[TrackSummary] = []
    for state, reader in ctx.auth.memberships(request):
        record = state.members[reader.member]
        party = state.parties[record.party]
        kind = "mediator" if record.party == state.mediator else party.kind.value
        summaries.append(
            TrackSummary(
                track=state.track,
                title=state.title,
                size=ctx.service.store.size(state.track),
                member=reader.member,
                party=record.party,
                party_kind=kind,
                role=record.role.value,
            )
        )
    return TracksResponse(tracks=summaries)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the event search keeps, of the entries a reader may see.

    Attributes:
        types: Log event types to keep (empty: every type).
        member: Keep the entries of this member's commands (the command's
            signer; for the service's key registration, the entry's author).
        since: Keep entries created at or after this instant.
        until: Keep entries created before this instant.
    """

    types: frozenset[str] = frozenset()
    member: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(
        cls, types: Sequence[str] | None, member: str | None, since: str | None, until: str | None
    ) -> EventFilter:
        """Build from the query parameters (EncodingError naming ``since`` or ``until`` if malformed)."""
        return cls(frozenset(types or ()), member, _instant(since, "since"), _instant(until, "until"))

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.types) or self.member is not None or self.since is not None or self.until is not None

    def matches(self, entry: LogEntry) -> bool:
        """Whether ``entry`` passes every filter set."""
        event = entry.signed.event
        if self.types and event.type not in self.types:
            return False
        if self.member is not None and _signer(entry) != self.member:
            return False
        if self.since is None and self.until is None:
            return True
        created = parse_timestamp(event.created_at)
        return (self.since is None or created >= self.since) and (self.until is None or created < self.until)


def _signer(entry: LogEntry) -> str:
    body = entry.signed.event.body
    command = body.get("command")
    if isinstance(command, dict):
        payload = command.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("member"), str):
            return str(payload["member"])
    return entry.signed.event.author


def _instant(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise EncodingError(
            f"{field}: must be an RFC 3339 instant, e.g. 2026-12-06T19:00:00Z (got {text!r})"
        ) from e
    if moment.tzinfo is None:
        raise EncodingError(f"{field}: must name its UTC offset, e.g. 2026-12-06T19:00:00Z (got {text!r})")
    return moment
