"""The read endpoints of staged deals (issue #4); commands go through ``POST .../commands``.

- ``GET /v1/tracks/{track}/deals``: every deal of the track (id, title,
  status, revision, deadline) in log order;
- ``GET /v1/tracks/{track}/deals/{deal_id}``: one deal: its terms, its hash
  (what voters sign), status, voters, votes, missing voters and outcome (with
  the compensations of an abort).

Both authenticate the reader (RFC 9421) like every read. The deals are
visible to the mediator and to every member of a delegation
(:func:`backchannel.service.deals.deal_view`); the list is empty and a deal
is 404 for anyone else, as for an unknown id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from backchannel.api.context import ApiContext, read_body, threaded
from backchannel.service.deals import deal_list, deal_view

__all__ = ["DealListResponse", "DealResponse", "router"]

_DealId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="The deal's id")]


class DealVoteModel(BaseModel):
    """One voter's ballot."""

    model_config = ConfigDict(extra="forbid")

    member: str
    vote: str = Field(description="yes or no")
    deal_hash: str = Field(description="the hash the voter signed (64 hex)")
    at: str


class DealOutcomeModel(BaseModel):
    """How the deal ended."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="committed or aborted")
    at: str
    reason: str | None = Field(description="vote_no, hash_mismatch or deadline (null when committed)")
    detail: str
    missing: list[str]
    compensations: list[dict[str, Any]] = Field(description="every step of an aborted deal, void")


class DealResponse(BaseModel):
    """``GET /v1/tracks/{track}/deals/{deal_id}``."""

    model_config = ConfigDict(extra="forbid")

    deal_id: str
    deal: dict[str, Any] = Field(description="the terms: id, title, phases of steps")
    deal_hash: str = Field(description="SHA-256 of the terms' canonical JSON: what voters sign")
    status: str = Field(description="drafted, preparing, committed or aborted")
    revision: int
    by: str
    agenda_version: int | None
    deadline: str | None
    voters: list[str]
    missing: list[str] = Field(description="voters yet to vote while preparing")
    votes: list[DealVoteModel]
    outcome: DealOutcomeModel | None


class DealSummaryModel(BaseModel):
    """One line of the deal list."""

    model_config = ConfigDict(extra="forbid")

    deal_id: str
    title: str
    status: str
    revision: int
    deadline: str | None


class DealListResponse(BaseModel):
    """``GET /v1/tracks/{track}/deals``."""

    model_config = ConfigDict(extra="forbid")

    deals: list[DealSummaryModel]


def router(ctx: ApiContext) -> APIRouter:
    """The deal read endpoints, bound to ``ctx``."""
    router = APIRouter()

    def read_one(request: Request, track: str, deal_id: str) -> DealResponse:
        state, reader = ctx.auth.reader(request, track, b"")
        return DealResponse.model_validate(deal_view(state, reader.member, deal_id))

    def read_all(request: Request, track: str) -> DealListResponse:
        state, reader = ctx.auth.reader(request, track, b"")
        return DealListResponse.model_validate({"deals": deal_list(state, reader.member)})

    @router.get("/v1/tracks/{track}/deals", response_model=DealListResponse)
    async def get_deals(track: str, request: Request) -> DealListResponse:
        """Every deal of the track the requester may see, in log order."""
        await read_body(request)
        return await threaded(read_all, request, track)

    @router.get("/v1/tracks/{track}/deals/{deal_id}", response_model=DealResponse)
    async def get_deal(track: str, deal_id: _DealId, request: Request) -> DealResponse:
        """A deal: terms, hash, status, voters, votes and outcome (404 unless the requester may see it)."""
        await read_body(request)
        return await threaded(read_one, request, track, deal_id)

    return router
