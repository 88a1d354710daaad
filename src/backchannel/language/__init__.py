"""The mediator's language aid (issue #15): escalation coding, reframings, meaning drift, rejection risk.

What it does: codes a message with CAMEO event codes and Goldstein weights and
says whether it is escalatory and why (:class:`Coder`); suggests softer
reframings from a versioned rules table (:class:`Reframer`); checks a
reframing's numbers exactly, its commitments and its similarity
(:func:`check_drift`); estimates a proposal's rejection risk with its inputs
(:class:`RiskModel`); and bundles the first three behind a translation seam
(:class:`LanguageAid`, :class:`Translator`).

What it does not do: send, relay or change anything. It never imports the API,
the CLI or the service node; the live channel calls it (ADR-0040..0042).
"""

from backchannel.language.coding import CodeMatch, Coder, Coding, Thresholds
from backchannel.language.drift import (
    DriftReport,
    Embedder,
    LexicalEmbedder,
    MiniLMEmbedder,
    check_drift,
    check_drifts,
    commitment_flips,
    default_embedder,
)
from backchannel.language.lexicon import CodeInfo, Lexicon, load_dictionary
from backchannel.language.numbers import NumberCheck, Quantity, compare_numbers, extract_quantities
from backchannel.language.pipeline import Analysis, IdentityTranslator, LanguageAid, Translator
from backchannel.language.reframing import Reframer, Rule, Suggestion
from backchannel.language.risk import RiskInputs, RiskModel, RiskScore, exchange_trend, position_distance

__all__ = [
    "Analysis",
    "CodeInfo",
    "CodeMatch",
    "Coder",
    "Coding",
    "DriftReport",
    "Embedder",
    "IdentityTranslator",
    "LanguageAid",
    "LexicalEmbedder",
    "Lexicon",
    "MiniLMEmbedder",
    "NumberCheck",
    "Quantity",
    "Reframer",
    "RiskInputs",
    "RiskModel",
    "RiskScore",
    "Rule",
    "Suggestion",
    "Thresholds",
    "Translator",
    "check_drift",
    "check_drifts",
    "commitment_flips",
    "compare_numbers",
    "default_embedder",
    "exchange_trend",
    "extract_quantities",
    "load_dictionary",
    "position_distance",
]
