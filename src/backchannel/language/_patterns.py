"""The token-pattern engine behind the coder: slots, gaps and anchored matching.

What it does: a :class:`Pattern` is a sequence of slots (a word, a set of
alternative words or phrases, or a word stem) and gaps (skip up to N words).
One slot is the *anchor*: the coder looks a pattern up by its anchor's words in
an index, so only the few patterns whose anchor occurs in a message are tried
(the Aho-Corasick idea applied to tokens). A match grows outwards from the
anchor: right elements forwards, left elements backwards. Nothing matches or
skips across a sentence break.

What it does not do: parse, tag or stem. Patterns see tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backchannel.language._text import BREAK, NEGATIONS

__all__ = ["CodeInfo", "Element", "Gap", "Pattern", "Slot"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of a pattern.

    Attributes:
        words: Single-word alternatives.
        phrases: Multi-word alternatives, each a tuple of words in reading order.
        stems: Word prefixes: ``"threat"`` matches ``threats``, ``threatened`` ...
        optional: Whether the slot may be absent.
    """

    words: frozenset[str] = frozenset()
    phrases: tuple[tuple[str, ...], ...] = ()
    stems: tuple[str, ...] = ()
    optional: bool = False

    def ends(self, words: tuple[str, ...], pos: int) -> list[int]:
        """Every end position (exclusive) of a match of this slot starting at ``pos``."""
        if pos >= len(words):
            return []
        token = words[pos]
        if not self.phrases and not self.stems:  # the common case: single words only
            return [pos + 1] if token in self.words else []
        found: list[int] = []
        if token in self.words or (token != BREAK and any(token.startswith(s) for s in self.stems)):
            found.append(pos + 1)
        for phrase in self.phrases:
            end = pos + len(phrase)
            if words[pos:end] == phrase:
                found.append(end)
        return found

    def reversed(self) -> Slot:
        """The same slot for matching on a reversed token sequence."""
        return Slot(self.words, tuple(p[::-1] for p in self.phrases), self.stems, self.optional)

    def literal(self) -> bool:
        """Whether the slot holds words or phrases only (no stems), so it can be indexed exactly."""
        return not self.stems and bool(self.words or self.phrases)

    def index_keys(self) -> set[str]:
        """The first words by which the slot is looked up in an index."""
        return set(self.words) | {p[0] for p in self.phrases}


@dataclass(frozen=True, slots=True)
class Gap:
    """Skip up to ``max_words`` words (never a sentence break)."""

    max_words: int


Element = Slot | Gap


def _forward(elements: tuple[Element, ...], i: int, words: tuple[str, ...], pos: int) -> int | None:
    """The end of the shortest match of ``elements[i:]`` starting at ``pos``, or None."""
    if i == len(elements):
        return pos
    element = elements[i]
    if isinstance(element, Gap):
        for skip in range(element.max_words + 1):
            at = pos + skip
            if at > len(words) or (skip and words[at - 1] == BREAK):
                return None
            end = _forward(elements, i + 1, words, at)
            if end is not None:
                return end
        return None
    for after in element.ends(words, pos):
        end = _forward(elements, i + 1, words, after)
        if end is not None:
            return end
    return _forward(elements, i + 1, words, pos) if element.optional else None


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern with its CAMEO code and where it came from.

    Attributes:
        code: The CAMEO event code it assigns, e.g. ``"139"``.
        text: The pattern as written, shown in every flag it raises.
        source: Where it came from, e.g. ``"builtin lexicon 1.0.0 #12"`` or ``"CAMEO.2.0.txt:6317"``.
        anchor: The slot the index looks up.
        left: The elements before the anchor, in reading order.
        right: The elements after the anchor, in reading order.
        negated: Whether the pattern itself holds a negation (then a negation
            around the match does not cancel it).
        specificity: How many words the pattern names; the most specific match
            of a message gives its primary code.
    """

    code: str
    text: str
    source: str
    anchor: Slot
    left: tuple[Element, ...] = ()
    right: tuple[Element, ...] = ()
    negated: bool = False
    specificity: int = 1
    _left_reversed: tuple[Element, ...] = field(init=False, repr=False, compare=False)
    requires: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Pre-compute the reversed left side and the words a message must hold besides the anchor."""
        flipped = tuple(e.reversed() if isinstance(e, Slot) else e for e in reversed(self.left))
        object.__setattr__(self, "_left_reversed", flipped)
        required = next(
            (
                frozenset(e.index_keys())
                for e in (*self.right, *self.left)
                if isinstance(e, Slot) and not e.optional and e.literal()
            ),
            frozenset(),
        )
        object.__setattr__(self, "requires", required)

    def match(
        self, words: tuple[str, ...], at: int, backwards: tuple[str, ...] | None
    ) -> tuple[int, int] | None:
        """Match with the anchor at token ``at``.

        Args:
            words: The message's tokens.
            at: Where the anchor's first word is.
            backwards: ``words`` reversed (computed once per message), or None
                when the pattern has no left side.

        Returns:
            The token span ``(start, end)`` of the match, or None.
        """
        for anchor_end in self.anchor.ends(words, at):
            end = _forward(self.right, 0, words, anchor_end)
            if end is None:
                continue
            if not self.left:
                return at, end
            assert backwards is not None
            back = _forward(self._left_reversed, 0, backwards, len(words) - at)
            if back is not None:
                return len(words) - back, end
        return None

    def cancelled(self, words: tuple[str, ...], span: tuple[int, int]) -> bool:
        """Whether a negation in or just before the match cancels it ("we do not threaten")."""
        if self.negated:
            return False
        start, end = span
        for token in reversed(words[max(0, start - 3) : start]):
            if token == BREAK:
                break
            if token in NEGATIONS:
                return True
        return any(token in NEGATIONS for token in words[start:end])


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """A CAMEO code with its Goldstein weight.

    Attributes:
        code: The CAMEO code, e.g. ``"139"``.
        name: Its name, e.g. ``"Give ultimatum"``.
        goldstein: Its Goldstein weight, -10 (most conflictual) to +10.
        example: An example sentence, when the table has one.
    """

    code: str
    name: str
    goldstein: float
    example: str | None = None

    @property
    def root(self) -> str:
        """The root code: the first two digits."""
        return self.code[:2]
