"""Fixed keys and a small agenda for tests, demos and benchmarks of the live channel.

Seeded keys make failures reproducible and golden bytes stable. They are
public test keys: never use them for anything real.
"""

from __future__ import annotations

from backchannel.domain import Agenda
from backchannel.domain.agenda import ChoiceIssue, NumberIssue
from backchannel.keyfile import KeyPair
from backchannel.log.canonical import JSONValue
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.wire import enrolment_key

__all__ = ["SMALL_AGENDA", "new_key_json", "seeded_keys"]

SMALL_AGENDA = Agenda(
    1,
    (
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        ChoiceIssue("sanctions_relief", ("none", "tier-1", "full")),
    ),
)
"""A two-issue agenda: an enrichment cap in % (step 0.01) and a sanctions-relief tier."""


def seeded_keys(seed: int, name: str) -> KeyPair:
    """Deterministic Ed25519 and X25519 keys for ``name`` (seed 0..155)."""
    if not 0 <= seed <= 155:
        raise ValueError("seed must be 0..155")
    return KeyPair(
        name,
        SigningKey.from_seed(bytes([seed]) * 32),
        AgreementKey.from_private_bytes(bytes([seed + 100]) * 32),
    )


def new_key_json(keys: KeyPair) -> dict[str, JSONValue]:
    """The wire form of ``keys`` as a key to enrol (no expiry)."""
    return enrolment_key(keys)
