"""Readers for the third-party CAMEO files a user points at (never shipped with backchannel).

What it does:

- :func:`parse_code_table` reads the ICEWS CAMEO code table (CSV: ``code``,
  ``name``, ``goldstein``, ``example`` ...) into :class:`CodeInfo` records;
- :func:`parse_verb_dictionary` reads a PETRARCH verb-pattern dictionary
  (``CAMEO.2.0.txt``: synonym sets, verb blocks, ``- LEFT * RIGHT [code]``
  patterns) into token patterns anchored on the verb's forms.

The dictionary was written for PETRARCH, which matches patterns against a
parse tree. Here a pattern is matched against tokens: the words left of ``*``
must come within 3 words before the verb, those right of it within 3 words
after, in order; ``{...}`` phrases are contiguous. Verb forms get their regular
inflections (-s, -ed, -ing) unless the block lists irregular ones, nouns an
optional plural. Markers of actors (``$``, ``+``, ``%``, ``^``) are ignored, and
so are the ``~`` transformation rules and ``[---]`` (no-code) patterns.

What it does not do: parse sentences, find the source and target actors, or
resolve PETRARCH's compound codes beyond taking their first code.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from backchannel.errors import ConfigurationError, NotFoundError
from backchannel.language._patterns import CodeInfo, Element, Gap, Pattern, Slot

__all__ = ["looks_like_code_table", "parse_code_table", "parse_verb_dictionary", "read_text"]

_BLOCK = re.compile(r"^---\s+(\S+)\s+\[([^\]]*)\](?:---)?\s+---$")  # "[110]---  ---" occurs too
_CODE = re.compile(r"\[([^\]]*)\]\s*$")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_BRACES = re.compile(r"\{([^}]*)\}")
_STAR = re.compile(r"_?\*_?")
_VERB = re.compile(r"[A-Z][A-Z_'\-]*")
_MARKERS = frozenset({"$", "+", "%", "^", "*"})
_GAP = Gap(3)
_MAX_BYTES = 50_000_000


def read_text(path: Path) -> str:
    """Read a dictionary file as text (bytes that are not UTF-8 become U+FFFD).

    Raises:
        NotFoundError: The file does not exist or is not a file.
        ConfigurationError: The file is larger than 50 MB.
    """
    if not path.is_file():
        raise NotFoundError(f"dictionary {path}: no such file")
    if path.stat().st_size > _MAX_BYTES:
        raise ConfigurationError(f"dictionary {path}: larger than {_MAX_BYTES} bytes")
    return path.read_bytes().decode("utf-8", errors="replace")


def looks_like_code_table(text: str) -> bool:
    """Whether ``text`` starts with a CSV header naming ``code`` and ``goldstein``."""
    header = text.split("\n", 1)[0].lower()
    return "," in header and "code" in header and "goldstein" in header


def _normal_code(raw: str) -> str | None:
    """``"139"`` -> ``"139"``; ``"042:043"`` -> ``"042"``; ``":173"`` -> ``"173"``; ``"---"`` -> None."""
    for part in raw.strip().split(":"):
        part = part.strip()  # noqa: PLW2901 - a normalised copy
        if part.isdigit():
            return part
    return None


def parse_code_table(text: str, source: str) -> dict[str, CodeInfo]:
    """Read the ICEWS code table.

    Args:
        text: The CSV text.
        source: The file name, used in errors.

    Returns:
        Code -> :class:`CodeInfo` (with the example sentence where there is one).

    Raises:
        ConfigurationError: A missing column, a bad code or weight, naming the line.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = {"code", "name", "goldstein"} - set(reader.fieldnames or ())
    if missing:
        raise ConfigurationError(f"{source}: line 1: missing column(s) {', '.join(sorted(missing))}")
    codes: dict[str, CodeInfo] = {}
    for row in reader:
        where = f"{source}: line {reader.line_num}"
        code = (row.get("code") or "").strip()
        if not code.isdigit() or not 2 <= len(code) <= 4:
            raise ConfigurationError(f"{where}: code: a CAMEO code is 2 to 4 digits (got {code!r})")
        try:
            weight = float(row.get("goldstein") or "")
        except ValueError as e:
            raise ConfigurationError(f"{where}: goldstein: not a number ({row.get('goldstein')!r})") from e
        if not -10 <= weight <= 10:
            raise ConfigurationError(f"{where}: goldstein: must be from -10 to 10 (got {weight})")
        example = (row.get("example") or "").strip()
        name = (row.get("name") or "").strip()
        codes[code] = CodeInfo(code, name, weight, example if example not in {"", "NA"} else None)
    if not codes:
        raise ConfigurationError(f"{source}: no codes")
    return codes


def _inflect(verb: str) -> set[str]:
    """Regular forms of a verb: warn -> warns, warned, warning; urge -> urges, urged, urging."""
    forms = {verb, verb + "s", verb + "ed", verb + "ing"}
    if verb.endswith("e"):
        forms |= {verb + "d", verb[:-1] + "ing"}
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        forms |= {verb[:-1] + "ies", verb[:-1] + "ied"}
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        forms.add(verb + "es")
    return forms


def _noun_forms(word: str) -> set[str]:
    if word.endswith("_"):
        return {word[:-1]}
    return {word, word + "s", word + "es"}


class _UnknownSetError(Exception):
    """A pattern names a synonym set the dictionary does not define (the pattern is skipped)."""


class _Reader:
    """State of one pass over a verb dictionary."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sets: dict[str, list[str]] = {}
        self.current_set: str | None = None
        self.block: tuple[str, str | None] | None = None
        self.verbs: list[tuple[str, ...]] = []
        self.verb_codes: list[tuple[tuple[str, ...], str]] = []
        self.pending: list[tuple[int, str, str]] = []  # (line, body, code) until the block ends
        self.patterns: list[Pattern] = []
        self.skipped: list[str] = []

    def line(self, number: int, raw: str) -> None:
        text = raw.split("#", 1)[0].strip()
        if not text or text.startswith("~"):
            return
        if text.startswith("&") and self.block is None:
            self.current_set = text[1:].rstrip("_").upper()
            self.sets[self.current_set] = []
        elif text.startswith("+") and self.current_set is not None:
            self.sets[self.current_set].append(text[1:].lower())
        elif text.startswith("---"):
            self.start_block(number, text)
        elif text.startswith("-"):
            self.pattern_line(number, text)
        elif self.block is not None:
            self.verb_line(number, text)
        else:
            raise ConfigurationError(f"{self.source}: line {number}: not a synonym, verb or pattern line")

    def start_block(self, number: int, text: str) -> None:
        self.finish_block()
        match = _BLOCK.match(text)
        if match is None:
            raise ConfigurationError(
                f"{self.source}: line {number}: a verb block header is '---  VERB  [code]  ---'"
            )
        self.block = (match.group(1).lower(), _normal_code(match.group(2)))
        self.current_set = None

    def verb_line(self, number: int, text: str) -> None:
        code_match = _BRACKET.search(text)
        irregular = _BRACES.search(text)
        base = _BRACES.sub("", _BRACKET.sub("", text)).split(";", 1)[0].strip().lstrip("+")
        if not _VERB.fullmatch(base):
            raise ConfigurationError(f"{self.source}: line {number}: bad verb form {text!r}")
        words = base.lower().split("_")
        if irregular is not None:
            forms = {tuple(words)} | {
                tuple(w.lstrip("+").lower().split("_")) for w in irregular.group(1).split()
            }
        else:
            forms = {(head, *words[1:]) for head in _inflect(words[0])}
        code = _normal_code(code_match.group(1)) if code_match is not None else None
        for form in sorted(forms):
            self.verbs.append(form)
            if code is not None:
                self.verb_codes.append((form, code))

    def pattern_line(self, number: int, text: str) -> None:
        if self.block is None:
            raise ConfigurationError(f"{self.source}: line {number}: a pattern outside a verb block")
        match = _CODE.search(text)
        if match is None:
            raise ConfigurationError(f"{self.source}: line {number}: a pattern needs a [code] at its end")
        body = _STAR.sub(" * ", text[1 : match.start()]).strip()  # "*WORD", "A_*_B" occur in CAMEO.2.0
        if "*" not in body.split():
            raise ConfigurationError(f"{self.source}: line {number}: a pattern needs the verb marker *")
        code = _normal_code(match.group(1))
        if code is not None:
            self.pending.append((number, body, code))

    def finish_block(self) -> None:
        if self.block is None:
            return
        name, default = self.block
        verbs = self.verbs
        anchor = Slot(
            frozenset(v[0] for v in verbs if len(v) == 1), tuple(sorted({v for v in verbs if len(v) > 1}))
        )
        if default is not None and verbs:
            self.patterns.append(Pattern(default, name.upper(), f"{self.source} {name.upper()}", anchor))
        for form, code in self.verb_codes:
            slot = Slot(frozenset({form[0]})) if len(form) == 1 else Slot(phrases=(form,))
            self.patterns.append(Pattern(code, " ".join(form).upper(), f"{self.source} {name.upper()}", slot))
        for number, body, code in self.pending:
            try:
                self.patterns.append(self.compile(number, body, code, anchor))
            except _UnknownSetError as e:  # CAMEO.2.0 itself names six sets it never defines
                self.skipped.append(f"{self.source}:{number}: skipped, {e}")
        self.block, self.verbs, self.verb_codes, self.pending = None, [], [], []

    def compile(self, number: int, body: str, code: str, anchor: Slot) -> Pattern:
        left_text, right_text = body.split("*", 1)
        left = self.elements(left_text)
        right = self.elements(right_text)
        return Pattern(
            code,
            f"- {body}",
            f"{self.source}:{number}",
            anchor,
            left=(*left, _GAP) if left else (),
            right=(_GAP, *right) if right else (),
            specificity=1 + sum(1 for e in (*left, *right) if isinstance(e, Slot)),
        )

    def elements(self, text: str) -> list[Element]:
        elements: list[Element] = []
        for group in _groups(text):
            if elements:
                elements.append(_GAP)
            if len(group) == 1:
                elements.append(self.slot(group[0]))
            else:  # a {...} phrase: contiguous words
                elements.extend(self.slot(word) for word in group)
        return elements

    def slot(self, word: str) -> Slot:
        if word.startswith("&"):
            name = word[1:].rstrip("_").upper()
            if name not in self.sets:
                raise _UnknownSetError(f"unknown synonym set {word}")
            members = self.sets[name]
        else:
            members = word.lower().split("/")
        words: set[str] = set()
        phrases: set[tuple[str, ...]] = set()
        for member in members:
            parts = member.strip("_").split("_")
            if len(parts) == 1:
                words |= _noun_forms(member)
            else:
                phrases.add(tuple(parts))
        return Slot(frozenset(words), tuple(sorted(phrases)))


def _groups(text: str) -> Iterator[list[str]]:
    """Split pattern text into words and ``{...}`` phrases, dropping brackets and actor markers."""
    depth = 0
    phrase: list[str] = []
    for raw in text.replace("{", " { ").replace("}", " } ").replace("(", " ").replace(")", " ").split():
        if raw == "{":
            depth += 1
        elif raw == "}":
            depth = max(0, depth - 1)
            if depth == 0 and phrase:
                yield phrase
                phrase = []
        elif raw not in _MARKERS and any(c.isalpha() for c in raw):
            if depth:
                phrase.append(raw)
            else:
                yield [raw]
    if phrase:
        yield phrase


def parse_verb_dictionary(text: str, source: str) -> tuple[list[Pattern], list[str]]:
    """Read a PETRARCH verb-pattern dictionary into token patterns.

    Args:
        text: The dictionary text.
        source: The file name, used in errors and in every match's source.

    Returns:
        The patterns, in file order (block defaults first within each block),
        and a note for every pattern skipped because it names an undefined set.

    Raises:
        ConfigurationError: A malformed line, naming its number.
    """
    reader = _Reader(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        reader.line(number, raw)
    reader.finish_block()
    if not reader.patterns:
        raise ConfigurationError(f"{source}: no verb patterns found")
    return reader.patterns, reader.skipped
