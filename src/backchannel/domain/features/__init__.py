"""Every feature of a track, and the registry built from them: :data:`FEATURES`, :data:`REGISTRY`.

One module per feature declares its record (:class:`~backchannel.domain.registry.Feature`):
its commands with their wire names and decide functions, its events with
their apply functions and visibility rules. Adding a capability is one more
module here and one more entry in :data:`FEATURES`; the registry test
(``tests/unit/domain/test_registry.py``) fails for a command or event class
that no feature registers.

This package decides nothing itself; :mod:`backchannel.domain.track`,
:mod:`~backchannel.domain.evolve`, :mod:`~backchannel.domain.visibility` and
the codecs read :data:`REGISTRY`.
"""

from backchannel.domain.features.agenda import AGENDA
from backchannel.domain.features.attestations import ATTESTATIONS
from backchannel.domain.features.commitments import COMMITMENTS
from backchannel.domain.features.coordination import COORDINATION
from backchannel.domain.features.deals import DEALS
from backchannel.domain.features.escrow import ESCROW
from backchannel.domain.features.forecasts import FORECASTS
from backchannel.domain.features.membership import MEMBERSHIP
from backchannel.domain.features.messaging import MESSAGING
from backchannel.domain.features.obligations import OBLIGATIONS
from backchannel.domain.features.text import TEXT
from backchannel.domain.registry import Feature, Registry

__all__ = ["FEATURES", "REGISTRY"]

FEATURES: tuple[Feature, ...] = (
    MEMBERSHIP,
    AGENDA,
    MESSAGING,
    DEALS,
    COMMITMENTS,
    ATTESTATIONS,
    ESCROW,
    TEXT,
    OBLIGATIONS,
    FORECASTS,
    COORDINATION,
)
"""The track's features, in the order their commands and events were added."""

REGISTRY = Registry(FEATURES)
"""Every registered command and event (see :class:`~backchannel.domain.registry.Registry`)."""
