"""Pydantic models of the HTTP API's requests and responses, for OpenAPI.

They describe shapes at the edge only (ADR-0012). The command body is parsed
by :meth:`backchannel.protocol.wire.SignedCommand.from_dict`, never by pydantic: the
signature covers exact bytes, so the handler reads the raw body itself and
:class:`SignedCommandModel` (:mod:`backchannel.api.command_schemas`) only documents it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backchannel.api.command_schemas import BatchRequestModel, CommandPayloadModel, SignedCommandModel

__all__ = [
    "AnnexResponse",
    "BatchItemModel",
    "BatchRequestModel",
    "BatchResponse",
    "CheckpointResponse",
    "CommandPayloadModel",
    "CommandResponse",
    "ConsistencyProofResponse",
    "CosignatureRequestModel",
    "CosignatureResponse",
    "DeliveriesResponse",
    "DeliveryModel",
    "EventsResponse",
    "HeartbeatResponse",
    "InclusionProofResponse",
    "LeavesResponse",
    "LogEntryModel",
    "ObligationResponse",
    "ObligationStepModel",
    "PartyPresenceModel",
    "PresenceResponse",
    "ProblemModel",
    "ReceiptItemModel",
    "ReceiptProofModel",
    "ReceiptProofsResponse",
    "ServiceInfo",
    "SignedCommandModel",
    "SignerKeyModel",
    "SplitViewModel",
    "SplitViewRequestModel",
    "SplitViewsResponse",
    "TextCommentModel",
    "TextCommentsResponse",
    "TextDiffResponse",
    "TextResponse",
    "TextSummaryModel",
    "TextsResponse",
    "ViolationModel",
]


class CommandResponse(BaseModel):
    """What a command did (201), or the first result of an idempotent retry (200)."""

    events: list[dict[str, Any]]
    first_index: int | None = Field(description="log index of the first event; null for a retry")
    checkpoint: str | None = Field(description="signed checkpoint note covering the append")
    replayed: bool


class BatchItemModel(BaseModel):
    """One command's outcome in a batch: its result, or its problem."""

    status: int = Field(description="what the command alone would have answered: 201, 200 (retry) or 4xx")
    result: CommandResponse | None = None
    problem: dict[str, Any] | None = Field(default=None, description="RFC 9457 problem details")


class BatchResponse(BaseModel):
    """The outcomes of a batch, one per command, in order."""

    results: list[BatchItemModel]


class LogEntryModel(BaseModel):
    """One log entry the reader may see."""

    index: int
    signed: dict[str, Any] = Field(description="the log-level signed event")
    salt: str = Field(description="base64 leaf salt")
    leaf_hash: str = Field(description="hex RFC 6962 leaf hash")


class EventsResponse(BaseModel):
    """A page of visible entries."""

    entries: list[LogEntryModel]
    next: int = Field(description="pass as ?after= to continue")
    size: int = Field(description="the log size when read")


class LeavesResponse(BaseModel):
    """Leaf hashes only (the witness view)."""

    start: int
    leaf_hashes: list[str]


class CheckpointResponse(BaseModel):
    """The latest signed checkpoint of a track (or the latest with ``?cosigned=k`` cosignatures)."""

    checkpoint: str = Field(
        description="signed note text: the log's signature, then every stored witness cosignature"
    )
    size: int
    log_key: str = Field(description="the log's note verifier key (vkey)")


class CosignatureRequestModel(BaseModel):
    """The body of ``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures`` (ADR-0019)."""

    model_config = ConfigDict(extra="forbid")

    cosignature: str = Field(
        description="a C2SP cosignature/v1 line, '— <member id> base64(key ID || timestamp || signature)'"
    )


class CosignatureResponse(BaseModel):
    """A stored witness cosignature (201: stored; 200: an equal or newer one was already kept)."""

    track: str
    size: int
    cosigner: str = Field(description="the witness member id (the cosignature's key name)")
    timestamp: int = Field(description="the cosignature's time, POSIX seconds")
    checkpoint: str = Field(description="the signed note with every stored cosignature appended")


class SplitViewRequestModel(BaseModel):
    """The body of ``POST /v1/tracks/{track}/split-views``: a witness's evidence of a fork."""

    model_config = ConfigDict(extra="forbid")

    old: str = Field(description="the checkpoint the witness had cosigned, as a signed note", max_length=4096)
    new: str = Field(description="the conflicting checkpoint it was shown, as a signed note", max_length=4096)


class SplitViewModel(BaseModel):
    """A witness's split-view alarm: two checkpoints signed by the log key that cannot both be true."""

    reporter: str = Field(description="the witness member that reported it")
    reported: int = Field(description="when the service accepted it, POSIX seconds")
    old: str = Field(description="the checkpoint the witness had cosigned (signed note)")
    new: str = Field(description="the conflicting checkpoint (signed note)")
    reason: str = Field(description="which note is not a checkpoint of the log this service holds, and why")


class SplitViewsResponse(BaseModel):
    """The split-view alarms of a track, oldest first (201 on a POST that stored a new one)."""

    track: str
    split_views: list[SplitViewModel]


class InclusionProofResponse(BaseModel):
    """RFC 9162 inclusion proof (hex hashes)."""

    index: int
    size: int
    proof: list[str]


class ConsistencyProofResponse(BaseModel):
    """RFC 9162 consistency proof (hex hashes)."""

    old: int
    new: int
    proof: list[str]


class ServiceKey(BaseModel):
    """The service node's public keys, as ``open_track`` must name them."""

    key_id: str
    ed25519: str = Field(description="base64 raw Ed25519 public key")
    x25519: str = Field(description="base64 raw X25519 public key")


class ServiceInfo(BaseModel):
    """The service's identity (unauthenticated)."""

    service_key: ServiceKey
    log_key: str


class TextSummaryModel(BaseModel):
    """One document of the negotiating text (ADR-0020)."""

    doc: str
    title: str
    version: int = Field(description="the current version")
    text_digest: str = Field(description="SHA-256 of the current text (UTF-8), hex")
    by: str = Field(description="who made the current version")
    at: str = Field(description="when (UTC)")


class TextsResponse(BaseModel):
    """The track's text policy and documents, in drafting order."""

    policy: str = Field(description="mediator-only or shared")
    documents: list[TextSummaryModel]


class TextResponse(BaseModel):
    """One version of a document."""

    doc: str
    title: str
    version: int
    current_version: int
    base_version: int | None = Field(description="the version this one was edited from (null for the draft)")
    text: str
    text_digest: str = Field(description="SHA-256 of the text (UTF-8), hex")
    by: str
    at: str
    policy: str


class TextDiffResponse(BaseModel):
    """A unified diff between two versions (empty when they are equal)."""

    doc: str
    from_version: int
    to_version: int
    diff: str


class TextCommentModel(BaseModel):
    """A private comment to the mediator on one version."""

    version: int
    text: str
    by: str
    party: str
    at: str


class TextCommentsResponse(BaseModel):
    """The comments the reader may see: all of them for the mediator, its own party's otherwise."""

    doc: str
    comments: list[TextCommentModel]


class ViolationModel(BaseModel):
    """One field-level reason a payload was refused."""

    field: str
    rule: str
    message: str


class ProblemModel(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    violations: list[ViolationModel] | None = None
    limit: int | None = Field(default=None, description="for 413: the largest size accepted, in bytes")


class DeliveryModel(BaseModel):
    """One leased delivery: the message and the log entry that delivered it.

    ``entry`` is the entry at ``log_index``: for a recipient, the mediator's
    ``message.forwarded`` or ``message.reframed``; for the mediator, the
    author's ``message.submitted``. Its leaf hash and salt let the recipient
    prove inclusion. For a verbatim forward, ``original`` is the author's own
    signed command: its SHA-256 (of the canonical payload) is ``message_id``,
    and its signature is the author's.
    """

    message_id: str
    log_index: int = Field(description="index of the entry that queued it (the SSE event id)")
    priority: str = Field(description="flash, priority or routine")
    attempt: int = Field(description="1 for the first delivery, 2 for the first redelivery...")
    sender: str = Field(description="the author's party")
    visible_until: str = Field(description="when the lease expires unsettled (UTC, ISO 8601)")
    entry: LogEntryModel
    original: dict[str, Any] | None = Field(
        default=None, description="for a verbatim forward: the author's signed command"
    )


class DeliveriesResponse(BaseModel):
    """Leased deliveries, most urgent first, then in log order."""

    deliveries: list[DeliveryModel]


class HeartbeatResponse(BaseModel):
    """A recorded heartbeat."""

    member: str
    party: str
    at: str


class PartyPresenceModel(BaseModel):
    """One party's liveness."""

    party: str
    status: str = Field(description="online, silent or never_seen")
    last_heartbeat: str | None
    silent_since: str | None
    members_online: list[str]


class PresenceResponse(BaseModel):
    """Every party's liveness (the mediator's view)."""

    parties: list[PartyPresenceModel]


class AnnexResponse(BaseModel):
    """An annex blob the service holds (201: first upload by the requester's party; 200: again)."""

    track: str
    digest: str = Field(description="SHA-256 of the blob, 64 lowercase hex digits")
    size: int = Field(description="the blob's length in bytes")


class ReceiptItemModel(BaseModel):
    """What a receipt says about one message: ``[message_id, log_index]`` on the wire."""

    message_id: str
    log_index: int = Field(description="index of the entry that delivered the message to the party")


class SignerKeyModel(BaseModel):
    """The key that signed a receipt, as the track enrolled it."""

    member: str = Field(description="the recipient member who signed the receipt")
    key_id: str = Field(description="ed25519:<32 hex>, derived from the key; the receipt command names it")
    ed25519: str = Field(description="base64 raw Ed25519 public key")


class ReceiptProofModel(BaseModel):
    """One recipient party's receipt of a message, or that it is still owed.

    ``delivery`` is the entry that delivered the message to ``party`` (a
    ``message.forwarded`` or ``message.reframed``). Once settled, ``entry`` is
    the ``receipt.recorded`` entry at ``log_index`` that settled it first: its
    body embeds the recipient's own signed ``record_receipt`` command verbatim,
    which ``signer``'s key verifies and whose items include ``item``.
    """

    party: str
    status: str = Field(description="settled, pending or dead_lettered")
    delivery_index: int = Field(description="index of the entry that delivered the message to the party")
    delivery: LogEntryModel
    log_index: int | None = Field(description="index of the receipt entry (null until settled)")
    entry: LogEntryModel | None = Field(description="the receipt entry (null until settled)")
    signer: SignerKeyModel | None = Field(description="the key that signed the receipt (null until settled)")
    item: ReceiptItemModel | None = Field(
        description="the receipt's item for this message (null until settled)"
    )


class ReceiptProofsResponse(BaseModel):
    """Proof of receipt of one message, per recipient party (``GET .../messages/{id}/receipts``)."""

    track: str
    message_id: str
    party: str = Field(description="the party that wrote the message")
    receipts: list[ReceiptProofModel] = Field(description="one per recipient party, in delivery order")


class ObligationStepModel(BaseModel):
    """One step on an obligation's escalation ladder (ADR-0018)."""

    direction: str = Field(description="up (an overdraw) or down (held within limits)")
    effective_at: str
    from_level: int
    to_level: int
    from_tier: str
    to_tier: str
    decided_at: str
    command_digest: str = Field(description="the command that recorded it: for a step up, the consumption")
    source: str | None = Field(description="what attested the consumption (step up)")
    observed_at: str | None
    overdraw: str | None = Field(description="exact decimal text in the metric's unit, rounded up")
    tokens: str = Field(description="tokens then, decimal text rounded down")
    held_since: str | None = Field(description="when the hold began (step down)")


class ObligationResponse(BaseModel):
    """``GET /v1/tracks/{track}/obligations/{id}``: terms, current level and tokens, ladder history."""

    obligation: str
    party: str
    metric: str
    unit: str
    rate: str = Field(description="per period_seconds, exact decimal text")
    burst: str
    period_seconds: int
    ladder: list[str]
    hold_seconds: int
    recovery_pct: int
    shared_with: list[str]
    defined_at: str
    defined_by: str
    level: int
    tier: str
    tokens: str = Field(description="at as_of, decimal text rounded down (negative: a debt)")
    as_of: str
    next_step_down: str | None
    records: int
    consumed: str
    overdraws: int
    history: list[ObligationStepModel]
