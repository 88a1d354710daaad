"""The escrow feature (ADR-0017): k-of-n escrows opened, signed for release, released or refunded.

Decisions and visibility are in :mod:`~backchannel.domain.agreements.escrow`,
the fold in :mod:`~backchannel.domain.agreements.escrow_book`. An escrow's
events are seen by the parties it concerns: its items' owners and
beneficiaries and its signers. This module only declares the feature.
"""

from __future__ import annotations

from backchannel.domain._draft import Draft
from backchannel.domain.agreements import escrow
from backchannel.domain.agreements.escrow_book import EscrowEvent
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_events import (
    EscrowOpened,
    EscrowRefunded,
    EscrowReleased,
    EscrowReleaseSigned,
)
from backchannel.domain.registry import Feature, command, event

__all__ = ["ESCROW"]


def _apply(draft: Draft, event: EscrowEvent) -> None:
    draft.escrows = draft.escrows.apply(event)


ESCROW = Feature(
    "escrow",
    commands=(
        command(OpenEscrow, "open_escrow", escrow.open_escrow),
        command(SignEscrowRelease, "sign_escrow_release", escrow.sign_escrow_release),
        command(ReleaseEscrow, "release_escrow", escrow.release_escrow),
        command(ExpireEscrow, "expire_escrow", escrow.expire_escrow),
    ),
    events=(
        event(EscrowOpened, _apply, escrow.escrow_visible),
        event(EscrowReleaseSigned, _apply, escrow.escrow_visible),
        event(EscrowReleased, _apply, escrow.escrow_visible),
        event(EscrowRefunded, _apply, escrow.escrow_visible),
    ),
)
"""Escrows (ADR-0017)."""
