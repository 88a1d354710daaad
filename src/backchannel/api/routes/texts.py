"""The negotiating text (ADR-0020): ``GET .../texts``, ``.../texts/{doc}``, ``.../diff``, ``.../comments``.

For the mediator and the delegations; comments for the mediator and their party only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from backchannel.api.context import (
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.schemas import (
    TextCommentModel,
    TextCommentsResponse,
    TextDiffResponse,
    TextResponse,
    TextsResponse,
    TextSummaryModel,
)
from backchannel.log.records import format_timestamp

__all__ = ["router"]

_Version = Annotated[int | None, Query(ge=1, description="a version (default: the current one)")]
_FromVersion = Annotated[int, Query(alias="from", ge=1, description="the version to diff from")]
_ToVersion = Annotated[int, Query(alias="to", ge=1, description="the version to diff to")]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks/{track}/texts", response_model=TextsResponse)
    async def get_texts(track: str, request: Request) -> TextsResponse:
        """The text policy and every document (mediator and delegations only)."""
        await read_body(request)
        return await threaded(_list_texts, ctx, request, track)

    @router.get("/v1/tracks/{track}/texts/{doc}", response_model=TextResponse)
    async def get_text(track: str, doc: str, request: Request, version: _Version = None) -> TextResponse:
        """Version ``version`` of a document (default: the current one)."""
        await read_body(request)
        return await threaded(_get_text, ctx, request, track, doc, version)

    @router.get("/v1/tracks/{track}/texts/{doc}/diff", response_model=TextDiffResponse)
    async def get_text_diff(
        track: str, doc: str, request: Request, old: _FromVersion, new: _ToVersion
    ) -> TextDiffResponse:
        """A unified diff from version ``from`` to version ``to``."""
        await read_body(request)
        return await threaded(_text_diff, ctx, request, track, doc, old, new)

    @router.get("/v1/tracks/{track}/texts/{doc}/comments", response_model=TextCommentsResponse)
    async def get_text_comments(track: str, doc: str, request: Request) -> TextCommentsResponse:
        """The comments on a document the requester may read (the mediator: all; a delegation: its own)."""
        await read_body(request)
        return await threaded(_text_comments, ctx, request, track, doc)

    return router


def _list_texts(ctx: ApiContext, request: Request, track: str) -> TextsResponse:
    _, reader = ctx.auth.reader(request, track, b"")
    policy, documents = ctx.texts.documents(track, reader.member)
    return TextsResponse(
        policy=policy.value,
        documents=[
            TextSummaryModel(
                doc=d.doc,
                title=d.title,
                version=d.current.version,
                text_digest=d.current.digest.hex(),
                by=d.current.by,
                at=format_timestamp(d.current.at),
            )
            for d in documents
        ],
    )


def _get_text(ctx: ApiContext, request: Request, track: str, doc: str, version: int | None) -> TextResponse:
    _, reader = ctx.auth.reader(request, track, b"")
    view = ctx.texts.document(track, reader.member, doc, version)
    found = view.version
    return TextResponse(
        doc=view.document.doc,
        title=view.document.title,
        version=found.version,
        current_version=view.document.current.version,
        base_version=found.base_version,
        text=found.text,
        text_digest=found.digest.hex(),
        by=found.by,
        at=format_timestamp(found.at),
        policy=view.policy.value,
    )


def _text_diff(  # noqa: PLR0913, PLR0917 - the request and the diff's coordinates
    ctx: ApiContext, request: Request, track: str, doc: str, old: int, new: int
) -> TextDiffResponse:
    _, reader = ctx.auth.reader(request, track, b"")
    diff = ctx.texts.diff(track, reader.member, doc, old, new)
    return TextDiffResponse(doc=doc, from_version=old, to_version=new, diff=diff)


def _text_comments(ctx: ApiContext, request: Request, track: str, doc: str) -> TextCommentsResponse:
    _, reader = ctx.auth.reader(request, track, b"")
    comments = ctx.texts.comments(track, reader.member, doc)
    return TextCommentsResponse(
        doc=doc,
        comments=[
            TextCommentModel(
                version=c.version, text=c.text, by=c.by, party=c.party, at=format_timestamp(c.at)
            )
            for c in comments
        ],
    )
