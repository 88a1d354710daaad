"""Annex blobs: upload and fetch, with the size limit and the read rule (ADR-0014).

A message carries annexes as SHA-256 digests (``annexes`` in ``submit_message``
and ``reframe_message``); the bytes travel separately, through this service,
and are kept in the track's store (:meth:`EventStore.put_annex
<backchannel.store.base.EventStore.put_annex>`), content-addressed. The
service never looks inside a blob: a sealed annex
(:mod:`backchannel.protocol.annexes`) is stored and relayed as the opaque bytes the
sender uploaded, so the mediator relays what it cannot read.

- **Upload.** Any enrolled member may upload to its track. The bytes must hash
  to the digest named (else :class:`~backchannel.domain.errors.SchemaViolationError`
  on field ``digest``) and be at most ``max_bytes`` long (else
  :class:`~backchannel.errors.PayloadTooLargeError` naming the limit).
  Uploading the same bytes again is idempotent; the uploader's party is
  recorded once.
- **Fetch.** :func:`~backchannel.domain.visibility.annex_readable_by` decides:
  the uploaders' parties, the mediator party, and parties to which a message
  naming the digest was delivered. Anyone else gets the same
  :class:`~backchannel.errors.NotFoundError` as for a digest never uploaded,
  so a fetch is no oracle for what others uploaded.

A message may name a digest that was not uploaded (yet): the log commits to
digests, not to blobs. This module does not authenticate requests (the API
does) and does not seal or open annexes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from backchannel.domain import TrackState
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.visibility import annex_readable_by
from backchannel.errors import ConfigurationError, NotFoundError, PayloadTooLargeError
from backchannel.service.tracks import TrackService

__all__ = ["DEFAULT_MAX_ANNEX_BYTES", "AnnexService", "AnnexUpload"]

DEFAULT_MAX_ANNEX_BYTES = 1 << 20
"""The default size limit of one annex blob (1 MiB)."""


@dataclass(frozen=True, slots=True)
class AnnexUpload:
    """What an upload did.

    Attributes:
        digest: The blob's SHA-256.
        size: Its length in bytes.
        created: True if the uploader's party had not uploaded these bytes before.
    """

    digest: bytes
    size: int
    created: bool


class AnnexService:
    """Upload and fetch annex blobs of the tracks a :class:`TrackService` holds.

    Args:
        tracks: The track service (its store keeps the blobs; its state says who is who).
        max_bytes: The largest blob accepted.

    Raises:
        ConfigurationError: ``max_bytes`` is below 1.
    """

    def __init__(self, tracks: TrackService, *, max_bytes: int = DEFAULT_MAX_ANNEX_BYTES) -> None:
        """Create the service."""
        if max_bytes < 1:
            raise ConfigurationError(f"the annex size limit must be at least 1 byte, got {max_bytes}")
        self._tracks = tracks
        self.max_bytes = max_bytes

    def upload(self, track: str, member: str, digest: bytes, data: bytes) -> AnnexUpload:
        """Store ``data``, which must hash to ``digest``, as uploaded by ``member``'s party.

        Raises:
            NotFoundError: the track is not open here.
            UnknownMemberError: ``member`` is not enrolled in the track.
            PayloadTooLargeError: ``data`` is longer than :attr:`max_bytes`.
            SchemaViolationError: ``data`` does not hash to ``digest`` (field ``digest``).
        """
        party = self._state(track).member(member).party
        if len(data) > self.max_bytes:
            raise PayloadTooLargeError(self.max_bytes, "annex")
        actual = hashlib.sha256(data).digest()
        if actual != digest:
            message = f"digest: the body's SHA-256 is {actual.hex()}, not {digest.hex()}"
            raise SchemaViolationError([Violation("digest", "sha256_of_body", message)])
        created = self._tracks.store.put_annex(track, data, party)
        return AnnexUpload(digest, len(data), created)

    def fetch(self, track: str, member: str, digest: bytes) -> bytes:
        """The blob ``digest``, if ``member`` may read it.

        Raises:
            NotFoundError: the track is not open here; or no such blob, or one
                ``member`` may not read (the same error: no oracle).
        """
        state = self._state(track)
        annex = self._tracks.store.get_annex(track, digest)
        if annex is None or not annex_readable_by(state, member, digest, annex.uploaders):
            raise NotFoundError(f"no annex {digest.hex()} on track {track!r}")
        return annex.data

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state
