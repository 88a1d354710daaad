"""Escalation coding: CAMEO event codes with Goldstein weights for each message.

What it does: tokenises a message once, looks each token up in the lexicon's
anchor index, tries only the patterns found there, and returns a
:class:`Coding`: every code with its Goldstein weight, the phrase that matched
and the pattern that matched it; the most conflictual weight; and whether the
message is *escalatory*, with the reason. A match with a negation in or just
before it ("we do not threaten") is dropped, unless the pattern itself is
negative ("we will not accept"). Coding is deterministic: the same lexicon and
text always give the same coding, in the same order.

A message is escalatory when (see ADR-0040):

- one of its codes weighs at or below ``Thresholds.single`` (default -4.0: a
  rejection, demand, threat or ultimatum); or
- its negative weights, one per non-overlapping match, add up to at or below
  ``Thresholds.cumulative`` (default -4.0: e.g. two accusations, or an
  accusation and a denunciation).

What it does not do: find actors (who threatens whom), read tone beyond the
lexicon, or decide anything: it informs a mediator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backchannel.errors import ConfigurationError
from backchannel.language._patterns import Pattern
from backchannel.language._text import BREAK, Tokens, check_text, tokenise
from backchannel.language.lexicon import Lexicon

__all__ = ["CodeMatch", "Coder", "Coding", "Thresholds"]


@dataclass(frozen=True, slots=True)
class CodeMatch:
    """One code found in a message.

    Attributes:
        code: The CAMEO code.
        name: The code's name in the code table (``""`` if unknown).
        goldstein: Its Goldstein weight (None when no table knows the code).
        match: The matched phrase, as it reads in the normalised (lower-cased) text.
        pattern: The pattern that matched.
        source: Where the pattern comes from (lexicon and version, or file and line).
        start: Where the match starts in the normalised text.
        end: Where it ends.
        specificity: How many words the pattern names.
    """

    code: str
    name: str
    goldstein: float | None
    match: str
    pattern: str
    source: str
    start: int
    end: int
    specificity: int

    def root_code(self) -> str:
        """The root code: the first two digits."""
        return self.code[:2]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "code": self.code,
            "name": self.name,
            "goldstein": self.goldstein,
            "match": self.match,
            "pattern": self.pattern,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a coding is escalatory (ADR-0040).

    Attributes:
        single: A code weighing at or below this is escalatory by itself.
        cumulative: Negative weights adding up to at or below this are escalatory together.
    """

    single: float = -4.0
    cumulative: float = -4.0

    def __post_init__(self) -> None:
        """Fail closed on thresholds that could never or would always fire."""
        if not -10 <= self.single < 0:
            raise ConfigurationError(f"thresholds.single: must be from -10 to below 0 (got {self.single})")
        if self.cumulative >= 0:
            raise ConfigurationError(f"thresholds.cumulative: must be below 0 (got {self.cumulative})")


@dataclass(frozen=True, slots=True)
class Coding:
    """The coding of one message.

    Attributes:
        text: The normalised text the matches point into.
        codes: Every code found, in the order of the text.
        goldstein: The most conflictual weight found, or None when no code was found.
        escalatory: Whether the codes cross a threshold.
        reason: Why the message is escalatory (``""`` when it is not).
        primary: The message's main code: the earliest match that is not a bare
            statement (01x), the more specific pattern first on a tie; or None.
    """

    text: str
    codes: tuple[CodeMatch, ...]
    goldstein: float | None
    escalatory: bool
    reason: str
    primary: CodeMatch | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``escalatory``, ``goldstein``, ``reason``, ``codes``)."""
        return {
            "escalatory": self.escalatory,
            "goldstein": self.goldstein,
            "reason": self.reason,
            "primary": None if self.primary is None else self.primary.code,
            "codes": [c.to_dict() for c in self.codes],
        }


def _describe(match: CodeMatch) -> str:
    return f"{match.code} {match.name} ({match.goldstein:+.1f}): {match.match!r} by pattern {match.pattern!r}"


def _outermost(hits: list[tuple[int, int, Pattern]]) -> list[tuple[int, int, Pattern]]:
    """Drop every match lying inside a more specific one ("can not accept ... in its current form")."""
    if len(hits) == 1:
        return hits
    return [
        (start, end, p)
        for start, end, p in hits
        if not any(
            s <= start and end <= e and (s, e) != (start, end) and q.specificity >= p.specificity
            for s, e, q in hits
        )
        and not any((s, e) == (start, end) and q.specificity > p.specificity for s, e, q in hits)
    ]


class Coder:
    """Codes messages against a lexicon. Build once, code many (patterns are indexed once)."""

    def __init__(self, lexicon: Lexicon | None = None, thresholds: Thresholds | None = None) -> None:
        """Create a coder.

        Args:
            lexicon: The patterns and code table; the built-in lexicon by default.
            thresholds: When a message is escalatory; :class:`Thresholds` defaults by default.
        """
        self.lexicon = lexicon if lexicon is not None else Lexicon.builtin()
        self.thresholds = thresholds if thresholds is not None else Thresholds()

    def _candidates(self, words: tuple[str, ...]) -> list[tuple[int, Pattern]]:
        index, stems, lengths = self.lexicon.index, self.lexicon.stems, self.lexicon.stem_lengths
        found: list[tuple[int, Pattern]] = []
        for at, word in enumerate(words):
            exact = index.get(word)
            if exact is not None:
                found.extend((at, p) for p in exact)
            for length in lengths:
                if len(word) < length:
                    break
                by_stem = stems.get(word[:length])
                if by_stem is not None:
                    found.extend((at, p) for p in by_stem)
        return found

    def _matches(self, tokens: Tokens) -> list[CodeMatch]:
        words = tokens.words
        candidates = self._candidates(words)
        if not candidates:
            return []
        backwards = words[::-1]
        present = frozenset(words)
        seen: set[tuple[str, int, int]] = set()
        hits: list[tuple[int, int, Pattern]] = []
        for at, pattern in candidates:
            if pattern.requires and pattern.requires.isdisjoint(present):
                continue  # a word the pattern needs is nowhere in the message
            span = pattern.match(words, at, backwards if pattern.left else None)
            if span is None or (pattern.code, *span) in seen or pattern.cancelled(words, span):
                continue
            seen.add((pattern.code, *span))
            hits.append((*span, pattern))
        if not hits:
            return []
        hits = _outermost(hits)
        spans = tokens.spans()
        out = []
        for start, end, pattern in sorted(hits, key=lambda h: (h[0], h[1], h[2].code)):
            shown = start + 1 if words[start] == BREAK and end > start + 1 else start  # not the "." of ^
            first, last = spans[shown][0], spans[end - 1][1]
            out.append(
                CodeMatch(
                    code=pattern.code,
                    name=self.lexicon.name_of(pattern.code),
                    goldstein=self.lexicon.goldstein(pattern.code),
                    match=tokens.text[first:last],
                    pattern=pattern.text,
                    source=pattern.source,
                    start=first,
                    end=last,
                    specificity=pattern.specificity,
                )
            )
        return out

    def _verdict(self, codes: list[CodeMatch]) -> tuple[bool, str]:
        weighed = [c for c in codes if c.goldstein is not None]
        if not weighed:
            return False, ""
        worst = min(weighed, key=lambda c: (c.goldstein, c.start))
        assert worst.goldstein is not None
        if worst.goldstein <= self.thresholds.single:
            return True, f"{_describe(worst)}; at or below {self.thresholds.single:+.1f}"
        kept: list[CodeMatch] = []
        for c in sorted(
            (c for c in weighed if c.goldstein is not None and c.goldstein < 0), key=lambda c: c.start
        ):
            if kept and c.start < kept[-1].end:
                if (c.goldstein or 0.0) < (kept[-1].goldstein or 0.0):
                    kept[-1] = c
                continue
            kept.append(c)
        total = sum(c.goldstein or 0.0 for c in kept)
        if kept and total <= self.thresholds.cumulative:
            parts = "; ".join(_describe(c) for c in kept)
            limit = self.thresholds.cumulative
            return True, f"negative weights add up to {total:+.1f}, at or below {limit:+.1f}: {parts}"
        return False, ""

    def code(self, text: str) -> Coding:
        """Code one message.

        Args:
            text: The message.

        Returns:
            Its coding.

        Raises:
            EncodingError: ``text`` is not a string or is empty.
            PayloadTooLargeError: ``text`` is over :data:`~backchannel.language._text.MAX_TEXT_CHARS`.
        """
        tokens = tokenise(check_text(text))
        codes = self._matches(tokens)
        escalatory, reason = self._verdict(codes)
        weights = [c.goldstein for c in codes if c.goldstein is not None]
        primary = min(codes, key=lambda c: (c.code.startswith("01"), c.start, -c.specificity), default=None)
        return Coding(tokens.text, tuple(codes), min(weights, default=None), escalatory, reason, primary)

    def code_many(self, texts: Iterable[str]) -> list[Coding]:
        """Code many messages (the same as :meth:`code` on each)."""
        return [self.code(t) for t in texts]
