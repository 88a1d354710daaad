"""Suggested reframings: softer frames for a flagged message, from a curated, versioned table of rules.

What it does: reads the built-in rules (``language/data/reframings.toml``) and,
optionally, a user's file of the same shape that extends or overrides them (by
rule id); for a message, applies every rule whose ``find`` occurs and returns up
to three :class:`Suggestion` texts (alternative 1 of every rule, then 2, then
3), each naming the rules it applied and what it changed. The first letter's
case is kept.

What it does not do: send anything (a suggestion is only ever shown), touch
numbers (a rule whose replacement would drop or add a number is refused when
the table is loaded), or judge meaning: :mod:`backchannel.language.drift`
checks each suggestion against its original.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from backchannel.errors import ConfigurationError, NotFoundError
from backchannel.language._text import check_text
from backchannel.language.numbers import extract_quantities

__all__ = ["BUILTIN_RULES", "Reframer", "Rule", "Suggestion"]

BUILTIN_RULES = "reframings.toml"
"""The file name of the built-in rules inside ``backchannel.language.data``."""

MAX_SUGGESTIONS = 3
_GROUP_REF = re.compile(r"\\(\d+)")


@dataclass(frozen=True, slots=True)
class Rule:
    """One reframing rule.

    Attributes:
        rule_id: Its unique id, e.g. ``"you-must"``.
        find: The compiled pattern (case-insensitive, on word boundaries).
        replace: The alternatives, best first.
        source: Where it came from (table name and version).
    """

    rule_id: str
    find: re.Pattern[str]
    replace: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A reframed text, never sent by itself.

    Attributes:
        text: The suggested text.
        changes: What changed: ``(rule id, original phrase, new phrase)`` in order.
    """

    text: str
    changes: tuple[tuple[str, str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "text": self.text,
            "changes": [{"rule": r, "from": a, "to": b} for r, a, b in self.changes],
        }


def _keep_case(original: str, new: str) -> str:
    if original[:1].isupper() and new:
        return new[0].upper() + new[1:]
    return new


def _expand(match: re.Match[str], alternative: str) -> str:
    """Expand group references (backslash N) in ``alternative``, lower-cased; an unmatched group is empty."""
    return _GROUP_REF.sub(lambda ref: (match.group(int(ref.group(1))) or "").lower(), alternative)


def _rule(entry: object, where: str, source: str) -> Rule:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a table with id, find and replace")
    rule_id, find, replace = entry.get("id"), entry.get("find"), entry.get("replace")
    if not isinstance(rule_id, str) or not rule_id:
        raise ConfigurationError(f"{where}.id: must be a non-empty string")
    if not isinstance(find, str) or not find:
        raise ConfigurationError(f"{where}.find: must be a non-empty string")
    if not isinstance(replace, list) or not replace or not all(isinstance(r, str) for r in replace):
        raise ConfigurationError(f"{where}.replace: must be a non-empty list of strings")
    try:
        pattern = re.compile(rf"(?<![\w-])(?:{find})(?![\w-])", re.IGNORECASE)
    except re.error as e:
        raise ConfigurationError(f"{where}.find: not a valid regular expression: {e}") from e
    for alternative in replace:
        if extract_quantities(_GROUP_REF.sub("", alternative)):
            raise ConfigurationError(f"{where}.replace: must not hold numbers ({alternative!r})")
        refs = [int(r) for r in _GROUP_REF.findall(alternative)]
        if refs and max(refs) > pattern.groups:
            raise ConfigurationError(
                f"{where}.replace: {alternative!r} refers to group {max(refs)}; find has {pattern.groups}"
            )
    return Rule(rule_id, pattern, tuple(replace), source)


def _rules_from_text(text: str, source: str) -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{source}: not valid TOML: {e}") from e
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigurationError(f"{source}.version: must be a non-empty string")
    entries = data.get("rule")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{source}.rule: must be a non-empty array of [[rule]] tables")
    rules = [_rule(entry, f"{source}: rule[{i}]", f"{source} {version}") for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.rule_id in seen:
            raise ConfigurationError(f"{source}: rule[{i}].id: {rule.rule_id!r} appears twice")
        seen.add(rule.rule_id)
    return rules


class Reframer:
    """Applies reframing rules to produce suggestions."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        """Create a reframer from rules (in the order they are tried)."""
        self.rules: tuple[Rule, ...] = tuple(rules)

    @classmethod
    def builtin(cls, extra: Path | None = None) -> Reframer:
        """The built-in rules, extended (or overridden by id) by the rules in ``extra``.

        Args:
            extra: A user's TOML file of rules, or None.

        Returns:
            The reframer.

        Raises:
            NotFoundError: ``extra`` does not exist.
            ConfigurationError: A rules file is malformed (naming the rule and field).
        """
        text = resources.files("backchannel.language.data").joinpath(BUILTIN_RULES).read_text("utf-8")
        rules = _rules_from_text(text, BUILTIN_RULES)
        if extra is not None:
            if not extra.is_file():
                raise NotFoundError(f"rules file {extra}: no such file")
            mine = {r.rule_id: r for r in _rules_from_text(extra.read_text("utf-8"), extra.name)}
            rules = [mine.pop(r.rule_id, r) for r in rules] + list(mine.values())
        return cls(rules)

    @property
    def versions(self) -> Mapping[str, int]:
        """How many rules come from each table (``"reframings.toml 1.0.0": 44``)."""
        counts: dict[str, int] = {}
        for rule in self.rules:
            counts[rule.source] = counts.get(rule.source, 0) + 1
        return counts

    def _apply(self, text: str, choice: int) -> Suggestion:
        changes: list[tuple[str, str, str]] = []
        for rule in self.rules:
            alternative = rule.replace[min(choice, len(rule.replace) - 1)]

            def swap(match: re.Match[str], rule: Rule = rule, alternative: str = alternative) -> str:
                new = _keep_case(match.group(0), _expand(match, alternative))
                changes.append((rule.rule_id, match.group(0), new))
                return new

            text = rule.find.sub(swap, text)
        text = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
        return Suggestion(text, tuple(changes))

    def suggest(self, text: str) -> list[Suggestion]:
        """Up to three distinct reframings of ``text`` (none when no rule applies).

        Args:
            text: The message.

        Returns:
            The suggestions, best first.

        Raises:
            EncodingError: ``text`` is empty or not a string.
            PayloadTooLargeError: ``text`` is over the limit.
        """
        check_text(text)
        suggestions: list[Suggestion] = []
        for choice in range(MAX_SUGGESTIONS):
            suggestion = self._apply(text, choice)
            if suggestion.changes and suggestion.text not in {s.text for s in suggestions}:
                suggestions.append(suggestion)
        return suggestions
