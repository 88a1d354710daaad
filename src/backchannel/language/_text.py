"""Text normalisation and tokenising shared by the coder, the reframer and the drift checks.

What it does: checks a message against the input limits, lower-cases it, expands
English contractions ("won't" -> "will not", "we'll" -> "we will") and splits it
into word tokens and sentence-break tokens (``"."``), each with its character
span in the normalised text.

What it does not do: stemming, part-of-speech tagging, parsing, or any language
other than English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backchannel.errors import EncodingError, PayloadTooLargeError

__all__ = [
    "BREAK",
    "MAX_TEXT_CHARS",
    "NEGATIONS",
    "Tokens",
    "check_text",
    "normalise",
    "tokenise",
]

MAX_TEXT_CHARS = 20_000
"""The longest message the language aid accepts, in characters (about 3,000 words)."""

BREAK = "."
"""The token that stands for a sentence break (``.``, ``!``, ``?`` or ``;``)."""

NEGATIONS = frozenset({"not", "never", "no", "nor", "neither", "without"})
"""Tokens that negate what follows them (contractions are expanded first)."""

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})
_CONTRACTIONS = {
    "won't": "will not",
    "can't": "can not",
    "cannot": "can not",
    "shan't": "shall not",
    "ain't": "is not",
}
_CONTRACTION = re.compile(r"\b(won't|can't|cannot|shan't|ain't)\b|n't\b|'(ll|re|ve|m|d)\b")
_SUFFIXES = {"ll": " will", "re": " are", "ve": " have", "m": " am", "d": " would"}
_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*[a-z%]*|[a-z][a-z0-9'\-]*|[.!?;]")


def _expand(match: re.Match[str]) -> str:
    whole = match.group(1)
    if whole is not None:
        return _CONTRACTIONS[whole]
    suffix = match.group(2)
    return " not" if suffix is None else _SUFFIXES[suffix]


def check_text(text: object, field: str = "text") -> str:
    """Return ``text`` if it is a message the language aid accepts.

    Args:
        text: The candidate message.
        field: The field name to put in an error message.

    Returns:
        The text, unchanged.

    Raises:
        EncodingError: ``text`` is not a string, or is empty or only whitespace.
        PayloadTooLargeError: ``text`` is longer than :data:`MAX_TEXT_CHARS`.
    """
    if not isinstance(text, str):
        raise EncodingError(f"{field}: must be a string (got {type(text).__name__})")
    if not text.strip():
        raise EncodingError(f"{field}: must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadTooLargeError(MAX_TEXT_CHARS, f"{field} ({len(text)} characters)")
    return text


def normalise(text: str) -> str:
    """Lower-case ``text``, straighten quotes and expand contractions."""
    lowered = text.lower().translate(_QUOTES)
    if "'" in lowered or "cannot" in lowered:
        lowered = _CONTRACTION.sub(_expand, lowered)
    return lowered


@dataclass(frozen=True, slots=True)
class Tokens:
    """A normalised text and its tokens.

    Attributes:
        text: The normalised text.
        words: The tokens; every sentence break is :data:`BREAK`, and the first
            token is a :data:`BREAK` too (standing before the text), so that a
            pattern can ask for the start of a sentence.
    """

    text: str
    words: tuple[str, ...]

    def spans(self) -> list[tuple[int, int]]:
        """The character span of every token in :attr:`text` (computed on demand; the first is empty)."""
        return [(0, 0), *(m.span() for m in _TOKEN.finditer(self.text))]


def tokenise(text: str) -> Tokens:
    """Normalise ``text`` and split it into tokens.

    Args:
        text: A message (already checked with :func:`check_text`).

    Returns:
        The normalised text with its tokens.
    """
    normal = normalise(text)
    words = (BREAK, *(BREAK if w in "!?;" else w for w in _TOKEN.findall(normal)))
    return Tokens(normal, words)
