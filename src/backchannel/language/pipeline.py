"""The language aid's pipeline: translate (a seam), code, suggest, check drift.

What it does: :class:`LanguageAid` bundles a :class:`~backchannel.language.coding.Coder`,
a :class:`~backchannel.language.reframing.Reframer` and an embedder, and
:meth:`LanguageAid.check` returns one :class:`Analysis` of a message: its
coding, suggestions when it is escalatory (each re-coded, so the mediator sees
what it leaves, with its numbers check and commitment flips), and, given a
reframing, its drift. A :class:`Translator` runs
first; the default is the identity (ADR-0042: no offline translation model is
available, so none is built).

What it does not do: send anything. Suggestions are returned, never relayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from backchannel.language.coding import Coder, Coding
from backchannel.language.drift import DriftReport, Embedder, check_drift, commitment_flips, default_embedder
from backchannel.language.numbers import compare_numbers
from backchannel.language.reframing import Reframer, Suggestion

__all__ = ["Analysis", "IdentityTranslator", "LanguageAid", "Translator"]


class Translator(Protocol):
    """Turns a message into English before coding (ADR-0042)."""

    @property
    def name(self) -> str:
        """The translator's name, shown in every analysis."""
        ...

    def to_english(self, text: str) -> str:
        """The English text of ``text``."""
        ...


class IdentityTranslator:
    """The default: the text is taken to be English already."""

    name = "identity (no translation)"

    def to_english(self, text: str) -> str:
        """Return ``text`` unchanged."""
        return text


@dataclass(frozen=True)
class Analysis:
    """Everything the language aid says about one message.

    Attributes:
        text: The message as given.
        coding: Its escalation coding.
        suggestions: Softer reframings with their own codings (empty unless escalatory).
        drift: The drift of the given reframing, or None when none was given.
        translator: The translator's name.
        lexicon: Which lexicon coded it: its name and versions, pattern count,
            and what its loader skipped.
    """

    text: str
    coding: Coding
    suggestions: tuple[tuple[Suggestion, Coding], ...]
    drift: DriftReport | None
    translator: str
    lexicon: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``backchannel language check --json``."""
        doc: dict[str, Any] = {
            "escalatory": self.coding.escalatory,
            "goldstein": self.coding.goldstein,
            "reason": self.coding.reason,
            "codes": [c.to_dict() for c in self.coding.codes],
            "suggestions": [_suggestion(self.text, s, c) for s, c in self.suggestions],
            "translator": self.translator,
            "lexicon": dict(self.lexicon),
        }
        if self.drift is not None:
            doc["drift"] = self.drift.to_dict()
        return doc


def _suggestion(original: str, suggestion: Suggestion, coding: Coding) -> dict[str, Any]:
    """A suggestion with what it leaves: its coding, its numbers check and its commitment flips."""
    return {
        **suggestion.to_dict(),
        "escalatory": coding.escalatory,
        "goldstein": coding.goldstein,
        "numbers_same": bool(compare_numbers(original, suggestion.text)),
        "commitment_flips": commitment_flips(original, suggestion.text),
    }


class LanguageAid:
    """The pipeline. Build once (lexicon and rules are compiled once), check many."""

    def __init__(
        self,
        coder: Coder | None = None,
        reframer: Reframer | None = None,
        embedder: Embedder | None = None,
        translator: Translator | None = None,
    ) -> None:
        """Create the pipeline; every part defaults to the built-in one.

        Args:
            coder: The escalation coder.
            reframer: The reframing rules.
            embedder: The drift similarity (loaded on first use when None).
            translator: The translator (identity by default).
        """
        self.coder = coder if coder is not None else Coder()
        self.reframer = reframer if reframer is not None else Reframer.builtin()
        self._embedder = embedder
        self.translator: Translator = translator if translator is not None else IdentityTranslator()

    @property
    def embedder(self) -> Embedder:
        """The embedder, loading the default one on first use."""
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def check(self, text: str, reframed: str | None = None) -> Analysis:
        """Analyse a message and, optionally, a reframing of it.

        Args:
            text: The message.
            reframed: A reframing to check for drift, or None.

        Returns:
            The analysis.

        Raises:
            EncodingError: A text is empty or not a string.
            PayloadTooLargeError: A text is over the limit.
        """
        english = self.translator.to_english(text)
        coding = self.coder.code(english)
        suggestions: tuple[tuple[Suggestion, Coding], ...] = ()
        if coding.escalatory:
            suggestions = tuple((s, self.coder.code(s.text)) for s in self.reframer.suggest(english))
        drift = None
        if reframed is not None:
            drift = check_drift(english, self.translator.to_english(reframed), self.embedder)
        lexicon = self.coder.lexicon
        about = {"name": lexicon.name, "patterns": len(lexicon), "notes": list(lexicon.notes)}
        return Analysis(text, coding, suggestions, drift, self.translator.name, about)
