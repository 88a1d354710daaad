"""Lexicons of event-code patterns: the built-in first-person lexicon and user-given dictionaries.

What it does:

- compiles the phrase syntax of the built-in lexicon (``language/data/lexicon.toml``,
  versioned) into :class:`~backchannel.language._patterns.Pattern` objects;
- indexes patterns by their anchor words (a dict lookup per token) and by
  anchor stems (a dict lookup per token and stem length);
- loads the full dictionaries a user points at: the PETRARCH CAMEO verb-pattern
  dictionary and the ICEWS code table with Goldstein weights (see
  :mod:`backchannel.language._cameo`), and merges them with the built-in one.

The phrase syntax, one pattern per ``phrase`` string, words separated by spaces:

- ``word`` one word; ``^`` the start of a sentence; ``a|b|c`` alternatives; ``a_b`` a multi-word alternative
  ("a b"); ``stem*`` any word starting with ``stem``;
- ``[a|b]`` an optional slot; ``...`` up to 3 words of anything; ``...N`` up to N;
- ``&NAME`` the alternatives of the set ``NAME`` in the ``[sets]`` table.

What it does not do: match (see :mod:`backchannel.language.coding`), or carry
the third-party dictionaries: they are read from where the user keeps them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from backchannel.errors import ConfigurationError
from backchannel.language._patterns import CodeInfo, Element, Gap, Pattern, Slot
from backchannel.language._text import BREAK, NEGATIONS

__all__ = [
    "BUILTIN_LEXICON",
    "CodeInfo",
    "Lexicon",
    "compile_phrase",
    "load_dictionary",
]

BUILTIN_LEXICON = "lexicon.toml"
"""The file name of the built-in lexicon inside ``backchannel.language.data``."""

_COMMON = frozenset(
    {"we", "i", "you", "your", "our", "us", "will", "would", "shall", "the", "a", "an", "to", "of", "and"}
    | {"be", "is", "are", "it", "this", "that", "can", "not", "they", "their", "for", "in", "on", "by", BREAK}
)
_MAX_GAP = 8


def _slot(token: str, sets: Mapping[str, Sequence[str]], where: str) -> Slot:
    optional = token.startswith("[") and token.endswith("]")
    body = token[1:-1] if optional else token
    alternatives: list[str] = []
    for part in body.split("|"):
        if part.startswith("&"):
            if part[1:] not in sets:
                raise ConfigurationError(f"{where}: unknown set {part}")
            alternatives.extend(sets[part[1:]])
        else:
            alternatives.append(part)
    words: set[str] = set()
    phrases: list[tuple[str, ...]] = []
    stems: list[str] = []
    for alt in alternatives:
        if alt == "^":
            words.add(BREAK)
            continue
        if not alt or not alt.replace("_", "").replace("*", "").replace("'", "").replace("-", "").isalnum():
            raise ConfigurationError(f"{where}: bad word {alt!r} in {token!r}")
        if alt.endswith("*"):
            stems.append(alt[:-1].lower())
        elif "_" in alt:
            phrases.append(tuple(alt.lower().split("_")))
        else:
            words.add(alt.lower())
    return Slot(frozenset(words), tuple(phrases), tuple(stems), optional)


def _element(token: str, sets: Mapping[str, Sequence[str]], where: str) -> Element:
    if token.startswith("..."):
        rest = token[3:] or "3"
        if not rest.isdigit() or not 0 < int(rest) <= _MAX_GAP:
            raise ConfigurationError(
                f"{where}: a gap is ... or ...N with N from 1 to {_MAX_GAP} (got {token})"
            )
        return Gap(int(rest))
    return _slot(token, sets, where)


def _anchor_index(elements: Sequence[Element]) -> int:
    """Pick the anchor: the first literal slot with no common word, else the first literal, else a stem."""
    slots = [(i, e) for i, e in enumerate(elements) if isinstance(e, Slot) and not e.optional]
    for i, slot in slots:
        if slot.literal() and not (slot.index_keys() & _COMMON):
            return i
    for i, slot in slots:
        if slot.literal():
            return i
    return slots[0][0]


def compile_phrase(
    phrase: str,
    code: str,
    source: str,
    sets: Mapping[str, Sequence[str]] | None = None,
    where: str | None = None,
) -> Pattern:
    """Compile one phrase of the lexicon syntax (see the module docstring).

    Args:
        phrase: The phrase, e.g. ``"you must ... by|before &DAY"``.
        code: The CAMEO code it assigns.
        source: Where it comes from, used in errors and in every match it makes.
        sets: The named word sets the phrase may refer to.
        where: The field path to name in errors (``source`` by default).

    Returns:
        The compiled pattern.

    Raises:
        ConfigurationError: The phrase is empty, names an unknown set, holds a
            bad word or gap, or has no required slot.
    """
    field = where or f"{source}: phrase"
    tokens = phrase.split()
    if not tokens:
        raise ConfigurationError(f"{field}: must not be empty")
    elements = [_element(t, sets or {}, field) for t in tokens]
    if not any(isinstance(e, Slot) and not e.optional for e in elements):
        raise ConfigurationError(f"{field}: needs at least one required word ({phrase!r})")
    if isinstance(elements[0], Gap) or isinstance(elements[-1], Gap):
        raise ConfigurationError(f"{field}: must not start or end with a gap ({phrase!r})")
    at = _anchor_index(elements)
    anchor = elements[at]
    assert isinstance(anchor, Slot)
    slots = [e for e in elements if isinstance(e, Slot)]
    negated = any(s.words & NEGATIONS for s in slots)
    return Pattern(
        code=code,
        text=phrase,
        source=source,
        anchor=anchor,
        left=tuple(elements[:at]),
        right=tuple(elements[at + 1 :]),
        negated=negated,
        specificity=sum(1 for s in slots if not s.optional),
    )


class Lexicon:
    """A set of patterns with an index by anchor, and the code table that weighs them.

    Build one with :meth:`builtin`, :func:`load_dictionary` or the constructor;
    combine with :meth:`merged`.
    """

    def __init__(
        self,
        patterns: Iterable[Pattern],
        codes: Mapping[str, CodeInfo],
        *,
        name: str,
        notes: Sequence[str] = (),
    ) -> None:
        """Index ``patterns``.

        Args:
            patterns: The compiled patterns.
            codes: The code table (code -> name and Goldstein weight).
            name: A label naming the lexicon's sources and versions.
            notes: What the loader skipped and why (shown, never hidden).
        """
        self.notes: tuple[str, ...] = tuple(notes)
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        self.codes: dict[str, CodeInfo] = dict(codes)
        self.name = name
        self.index: dict[str, list[Pattern]] = {}
        self.stems: dict[str, list[Pattern]] = {}
        for pattern in self.patterns:
            for key in pattern.anchor.index_keys():
                self.index.setdefault(key, []).append(pattern)
            for stem in pattern.anchor.stems:
                self.stems.setdefault(stem, []).append(pattern)
        self.stem_lengths: tuple[int, ...] = tuple(sorted({len(s) for s in self.stems}))

    def __len__(self) -> int:
        """The number of patterns."""
        return len(self.patterns)

    def goldstein(self, code: str) -> float | None:
        """The Goldstein weight of ``code``, else of its parent codes, else None."""
        for length in range(len(code), 1, -1):
            info = self.codes.get(code[:length])
            if info is not None:
                return info.goldstein
        return None

    def name_of(self, code: str) -> str:
        """The name of ``code`` (or of its nearest parent), or ``""`` when unknown."""
        for length in range(len(code), 1, -1):
            info = self.codes.get(code[:length])
            if info is not None:
                return info.name
        return ""

    def merged(self, other: Lexicon) -> Lexicon:
        """Both lexicons' patterns; ``other``'s code table wins where both name a code."""
        return Lexicon(
            self.patterns + other.patterns,
            {**self.codes, **other.codes},
            name=f"{self.name} + {other.name}",
            notes=self.notes + other.notes,
        )

    @classmethod
    def builtin(cls) -> Lexicon:
        """The built-in first-person lexicon shipped as package data."""
        data = resources.files("backchannel.language.data").joinpath(BUILTIN_LEXICON).read_text("utf-8")
        return cls.from_toml_text(data, source=BUILTIN_LEXICON)

    @classmethod
    def from_toml_text(cls, text: str, *, source: str) -> Lexicon:
        """Read a lexicon in the built-in TOML format.

        Args:
            text: The TOML document.
            source: The file name, used in errors.

        Returns:
            The lexicon.

        Raises:
            ConfigurationError: Naming the field and the rule broken.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"{source}: not valid TOML: {e}") from e
        version = _field(data, "version", str, source)
        codes = _codes(_field(data, "codes", dict, source), source)
        sets = _sets(data.get("sets", {}), source)
        patterns: list[Pattern] = []
        for i, entry in enumerate(_field(data, "pattern", list, source)):
            where = f"{source}: pattern[{i}]"
            if not isinstance(entry, dict):
                raise ConfigurationError(f"{where}: must be a table")
            code = _field(entry, "code", str, where)
            if code not in codes:
                raise ConfigurationError(f"{where}.code: {code!r} is not in the [codes] table")
            phrase = _field(entry, "phrase", str, where)
            label = f"{Path(source).name} {version} #{i}"
            patterns.append(compile_phrase(phrase, code, label, sets, where=f"{where}.phrase"))
        return cls(patterns, codes, name=f"{Path(source).name} {version}")


def _field(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:  # noqa: ANN401 - TOML values
    if key not in data:
        raise ConfigurationError(f"{where}.{key}: missing")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigurationError(f"{where}.{key}: must be a {kind.__name__} (got {type(value).__name__})")
    return value


def _codes(table: Mapping[str, Any], source: str) -> dict[str, CodeInfo]:
    codes: dict[str, CodeInfo] = {}
    for code, entry in table.items():
        where = f"{source}: codes.{code}"
        if not code.isdigit() or not 2 <= len(code) <= 4:
            raise ConfigurationError(f"{where}: a CAMEO code is 2 to 4 digits")
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where}: must be a table with name and goldstein")
        weight = entry.get("goldstein")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or not -10 <= weight <= 10:
            raise ConfigurationError(f"{where}.goldstein: must be a number from -10 to 10 (got {weight!r})")
        codes[code] = CodeInfo(code, _field(entry, "name", str, where), float(weight))
    return codes


def _sets(table: object, source: str) -> dict[str, list[str]]:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{source}: sets: must be a table of word lists")
    sets: dict[str, list[str]] = {}
    for name, words in table.items():
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise ConfigurationError(f"{source}: sets.{name}: must be a non-empty list of words")
        sets[name] = words
    return sets


def load_dictionary(path: Path) -> Lexicon:
    """Load a lexicon from a file the user gives, by its kind.

    - ``*.toml``: the built-in lexicon's format (a user's own patterns);
    - a CSV whose header names ``code`` and ``goldstein``: the ICEWS code table
      (weights and example sentences, no patterns);
    - anything else: a PETRARCH CAMEO verb-pattern dictionary.

    Args:
        path: The file.

    Returns:
        The lexicon.

    Raises:
        NotFoundError: The file does not exist.
        ConfigurationError: The file is malformed, naming the line or field.
    """
    from backchannel.language import _cameo

    text = _cameo.read_text(path)
    if path.suffix.lower() == ".toml":
        return Lexicon.from_toml_text(text, source=path.name)
    if _cameo.looks_like_code_table(text):
        return Lexicon((), _cameo.parse_code_table(text, path.name), name=path.name)
    patterns, skipped = _cameo.parse_verb_dictionary(text, path.name)
    return Lexicon(patterns, {}, name=path.name, notes=skipped)
