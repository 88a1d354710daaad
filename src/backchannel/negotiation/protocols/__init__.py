"""Mediated negotiation protocols: the parties never talk directly, only through the mediator.

- :func:`run_sao`: stacked alternating offers, bilateral and multilateral, relayed by the mediator;
- :func:`run_veto_text`: the single negotiating text with veto (the shared scenario's rules);
- :func:`run_nash_climb`: a single text climbing toward the Nash point on private yes/no answers;
- :func:`run_post_settlement`: Raiffa's post-settlement improvement of a deal.

Every protocol returns a :class:`ProtocolResult` and takes a :class:`numpy.random.Generator` for
any randomness. This package does not compute Pareto frontiers or Nash points
(``negotiation.analysis`` does) and never reads a clock.
"""

from backchannel.negotiation.protocols._records import (
    MEDIATOR,
    Comparator,
    ProtocolResult,
    TraceStep,
    TruthfulComparator,
    as_utilities,
    comparators_for,
)
from backchannel.negotiation.protocols.sao import run_sao
from backchannel.negotiation.protocols.single_text import (
    lattice_neighbours,
    run_nash_climb,
    run_post_settlement,
    run_veto_text,
)

__all__ = [
    "MEDIATOR",
    "Comparator",
    "ProtocolResult",
    "TraceStep",
    "TruthfulComparator",
    "as_utilities",
    "comparators_for",
    "lattice_neighbours",
    "run_nash_climb",
    "run_post_settlement",
    "run_sao",
    "run_veto_text",
]
