"""Strict loaders for the reference data of issue #10: DEU III issues and GJP forecasts.

- :func:`load_deu` reads the two DEU III files (``deu3_issues_wide.csv``, one row
  per issue, and ``deu3_positions_long.csv``, one row per issue and actor) into an
  :class:`IssueSet` of NumPy arrays, cross-checking that both files agree.
- :func:`load_gjp_questions` and :func:`load_gjp_forecasts` read the Good
  Judgment Project's questions and individual forecasts.

Every malformed value raises :class:`~backchannel.errors.EncodingError` naming the
file, the row (1 = the header) and the column; a missing file raises
:class:`~backchannel.errors.NotFoundError`. This module does not model, pool or
score anything, and it never writes.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from backchannel.errors import EncodingError, NotFoundError

__all__ = [
    "GjpForecast",
    "GjpQuestion",
    "IssueSet",
    "load_deu",
    "load_gjp_forecasts",
    "load_gjp_questions",
]

FloatArray = npt.NDArray[np.float64]

_WIDE_REQUIRED = ("isnr", "rp", "out")
_LONG_REQUIRED = ("isnr", "actor", "actor_name", "position", "salience")
_QUESTION_REQUIRED = ("ifp_id", "q_type", "n_opts", "options", "outcome")
_FORECAST_REQUIRED = ("ifp_id", "user_id", "forecast_id", "answer_option", "value", "timestamp")
_OPTION = re.compile(r"\(([a-z])\)\s*")


@dataclass(frozen=True)
class IssueSet:
    """DEU-format issues as arrays: one row per issue, one column per actor.

    Attributes:
        issue_ids: The ``isnr`` of each issue, in file order.
        actors: The actor codes (``com``, ``ep``, member states), in first-seen order.
        positions: ``(issues, actors)`` positions on 0-100; NaN where the actor has none.
        saliences: ``(issues, actors)`` saliences on 0-100; NaN where the actor has none.
        reference: ``(issues,)`` reference point (status quo); NaN when unknown.
        outcome: ``(issues,)`` decision outcome; NaN when unknown.
        procedure: The ``proc`` column of each issue (``COD``, ``CNS``; empty if absent).
    """

    issue_ids: tuple[str, ...]
    actors: tuple[str, ...]
    positions: FloatArray
    saliences: FloatArray
    reference: FloatArray
    outcome: FloatArray
    procedure: tuple[str, ...]

    @property
    def commission(self) -> FloatArray:
        """The Commission's position per issue (NaN when it has none or is absent)."""
        if "com" not in self.actors:
            return np.full(len(self.issue_ids), np.nan)
        return self.positions[:, self.actors.index("com")]

    def select(self, mask: npt.NDArray[np.bool_]) -> IssueSet:
        """Return the issues where ``mask`` is true, in order."""
        keep = np.flatnonzero(mask)
        return IssueSet(
            issue_ids=tuple(self.issue_ids[i] for i in keep),
            actors=self.actors,
            positions=self.positions[keep],
            saliences=self.saliences[keep],
            reference=self.reference[keep],
            outcome=self.outcome[keep],
            procedure=tuple(self.procedure[i] for i in keep),
        )


@dataclass(frozen=True)
class GjpQuestion:
    """One GJP question (an "IFP").

    Attributes:
        ifp_id: The question id, e.g. ``1001-0``.
        title: The short title.
        q_type: GJP's question type code (0 in year 1).
        options: The option letters, ``("a", "b")`` or ``("a", "b", "c")``.
        labels: The option texts, in the same order.
        outcome: The letter of the option that happened, or None if unresolved.
    """

    ifp_id: str
    title: str
    q_type: int
    options: tuple[str, ...]
    labels: tuple[str, ...]
    outcome: str | None

    @property
    def is_binary(self) -> bool:
        """True for two-option (yes/no) questions."""
        return len(self.options) == 2


@dataclass(frozen=True)
class GjpForecast:
    """One forecaster's probability for one option of one question at one time.

    Attributes:
        ifp_id: The question id.
        user_id: The forecaster.
        forecast_id: GJP's id of the forecast (one id covers every option of one submission).
        option: The option letter.
        value: The probability, in [0, 1].
        timestamp: The submission time as written in the file.
    """

    ifp_id: str
    user_id: str
    forecast_id: str
    option: str
    value: float
    timestamp: str


def _rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, Mapping[str, str]]]:
    """Yield ``(row number, row)`` of a CSV file; the header is row 1."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [name for name in required if name not in header]
        if missing:
            raise EncodingError(f"{path}: row 1: missing column(s) {', '.join(missing)}")
        for number, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise EncodingError(f"{path}: row {number}: expected {len(header)} fields")
            yield number, row


def _number(  # noqa: PLR0913 - where (file, row, column), what, and the range
    path: Path, number: int, column: str, text: str, *, low: float, high: float
) -> float:
    """Parse a finite number in ``[low, high]``; an empty cell is NaN (missing)."""
    if text.strip() == "":
        return math.nan
    try:
        value = float(text)
    except ValueError as error:
        raise EncodingError(f"{path}: row {number}, column {column}: not a number ({text!r})") from error
    if not math.isfinite(value) or not low <= value <= high:
        raise EncodingError(
            f"{path}: row {number}, column {column}: must be in [{low:g}, {high:g}] (got {text!r})"
        )
    return value


def _wide(path: Path) -> dict[str, tuple[int, Mapping[str, str]]]:
    """Read the wide file into ``isnr -> (row number, row)``, refusing duplicates."""
    issues: dict[str, tuple[int, Mapping[str, str]]] = {}
    for number, row in _rows(path, _WIDE_REQUIRED):
        isnr = row["isnr"].strip()
        if not isnr:
            raise EncodingError(f"{path}: row {number}, column isnr: empty issue id")
        if isnr in issues:
            raise EncodingError(f"{path}: row {number}, column isnr: duplicate issue {isnr!r}")
        issues[isnr] = (number, row)
    if not issues:
        raise EncodingError(f"{path}: no issues")
    return issues


def load_deu(issues_path: Path, positions_path: Path) -> IssueSet:
    """Load DEU III issues (wide file) and actors' positions and saliences (long file).

    Positions and saliences come from the long file. Where the wide file also has a
    ``p<actor>``/``s<actor>`` column, the two files must agree.

    Args:
        issues_path: The wide file (``isnr``, ``rp``, ``out``, optionally ``proc``, ``p*``, ``s*``).
        positions_path: The long file (``isnr, actor, actor_name, position, salience``).

    Returns:
        The issues in the wide file's order.

    Raises:
        NotFoundError: A file does not exist.
        EncodingError: A malformed value, a duplicate, an unknown issue or a disagreement.
    """
    wide = _wide(issues_path)
    index = {isnr: i for i, isnr in enumerate(wide)}
    entries: dict[tuple[str, str], tuple[float, float]] = {}
    actors: dict[str, None] = {}
    for number, row in _rows(positions_path, _LONG_REQUIRED):
        isnr, actor = row["isnr"].strip(), row["actor"].strip()
        if isnr not in index:
            raise EncodingError(f"{positions_path}: row {number}, column isnr: unknown issue {isnr!r}")
        if not actor:
            raise EncodingError(f"{positions_path}: row {number}, column actor: empty actor")
        if (isnr, actor) in entries:
            raise EncodingError(f"{positions_path}: row {number}: duplicate actor {actor!r} on {isnr!r}")
        position = _number(positions_path, number, "position", row["position"], low=0, high=100)
        salience = _number(positions_path, number, "salience", row["salience"], low=0, high=100)
        if math.isnan(position):
            raise EncodingError(f"{positions_path}: row {number}, column position: empty")
        entries[isnr, actor] = (position, salience)
        actors[actor] = None
    return _assemble(issues_path, wide, tuple(actors), entries)


def _assemble(
    path: Path,
    wide: Mapping[str, tuple[int, Mapping[str, str]]],
    actors: tuple[str, ...],
    entries: Mapping[tuple[str, str], tuple[float, float]],
) -> IssueSet:
    """Build the arrays and check the wide file's own columns against the long file."""
    n, m = len(wide), len(actors)
    positions, saliences = np.full((n, m), np.nan), np.full((n, m), np.nan)
    reference, outcome = np.full(n, np.nan), np.full(n, np.nan)
    for i, (isnr, (number, row)) in enumerate(wide.items()):
        reference[i] = _number(path, number, "rp", row["rp"], low=0, high=100)
        outcome[i] = _number(path, number, "out", row["out"], low=0, high=100)
        for j, actor in enumerate(actors):
            entry = entries.get((isnr, actor))
            if entry is not None:
                positions[i, j], saliences[i, j] = entry
            _check_wide(path, number, row, actor, entry)
    procedure = tuple(row.get("proc", "").strip() for _, row in wide.values())
    return IssueSet(tuple(wide), actors, positions, saliences, reference, outcome, procedure)


def _check_wide(
    path: Path, number: int, row: Mapping[str, str], actor: str, entry: tuple[float, float] | None
) -> None:
    """Refuse a wide-file ``p<actor>``/``s<actor>`` cell that contradicts the long file.

    An actor without a position is absent from the long file; the wide file may still
    record a salience for it, which is ignored.
    """
    for k, prefix in enumerate(("p", "s")):
        if entry is None and prefix == "s":
            continue
        column = prefix + actor
        if column not in row:
            continue
        value = _number(path, number, column, row[column], low=0, high=100)
        expected = math.nan if entry is None else entry[k]
        if not (value == expected or (math.isnan(value) and math.isnan(expected))):
            raise EncodingError(
                f"{path}: row {number}, column {column}: {row[column]!r} disagrees with the positions file"
            )


def _options(path: Path, number: int, text: str, n_opts: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Parse ``"(a) Yes, (b) No"`` into letters and labels; their count must be ``n_opts``."""
    parts = _OPTION.split(text.strip())
    letters = tuple(parts[1::2])
    labels = tuple(label.strip().rstrip(",").strip() for label in parts[2::2])
    expected = tuple("abcdefghijklmnopqrstuvwxyz"[:n_opts])
    if parts[0].strip() or letters != expected:
        raise EncodingError(
            f"{path}: row {number}, column options: expected options {', '.join(expected)} "
            f"as '(a) ..., (b) ...' (got {text!r})"
        )
    return letters, labels


def load_gjp_questions(path: Path) -> dict[str, GjpQuestion]:
    """Load GJP questions (``ifp_id, short_title, q_text, q_type, n_opts, options, ..., outcome``).

    Args:
        path: The questions CSV.

    Returns:
        The questions by ``ifp_id``, in file order.

    Raises:
        NotFoundError: The file does not exist.
        EncodingError: A malformed value or a duplicate question.
    """
    questions: dict[str, GjpQuestion] = {}
    for number, row in _rows(path, _QUESTION_REQUIRED):
        ifp_id = row["ifp_id"].strip()
        if not ifp_id or ifp_id in questions:
            raise EncodingError(f"{path}: row {number}, column ifp_id: empty or duplicate ({ifp_id!r})")
        n_opts = _integer(path, number, "n_opts", row["n_opts"], low=2, high=26)
        q_type = _integer(path, number, "q_type", row["q_type"], low=0, high=99)
        letters, labels = _options(path, number, row["options"], n_opts)
        outcome = row["outcome"].strip() or None
        if outcome is not None and outcome not in letters:
            raise EncodingError(
                f"{path}: row {number}, column outcome: {outcome!r} is not one of {', '.join(letters)}"
            )
        title = row.get("short_title", "").strip()
        questions[ifp_id] = GjpQuestion(ifp_id, title, q_type, letters, labels, outcome)
    return questions


def _integer(  # noqa: PLR0913 - where (file, row, column), what, and the range
    path: Path, number: int, column: str, text: str, *, low: int, high: int
) -> int:
    """Parse an integer in ``[low, high]``."""
    try:
        value = int(text.strip())
    except ValueError as error:
        raise EncodingError(f"{path}: row {number}, column {column}: not an integer ({text!r})") from error
    if not low <= value <= high:
        raise EncodingError(
            f"{path}: row {number}, column {column}: must be in [{low}, {high}] (got {value})"
        )
    return value


def load_gjp_forecasts(path: Path, questions: Mapping[str, GjpQuestion]) -> list[GjpForecast]:
    """Load GJP individual forecasts, checking each against its question.

    Args:
        path: The forecasts CSV (``ifp_id, user_id, forecast_id, fcast_type, answer_option, value, ...``).
        questions: The questions, from :func:`load_gjp_questions`.

    Returns:
        One record per row, in file order.

    Raises:
        NotFoundError: The file does not exist.
        EncodingError: A malformed value, an unknown question or an option the question lacks.
    """
    forecasts: list[GjpForecast] = []
    for number, row in _rows(path, _FORECAST_REQUIRED):
        ifp_id = row["ifp_id"].strip()
        question = questions.get(ifp_id)
        if question is None:
            raise EncodingError(f"{path}: row {number}, column ifp_id: unknown question {ifp_id!r}")
        option = row["answer_option"].strip()
        if option not in question.options:
            raise EncodingError(
                f"{path}: row {number}, column answer_option: {option!r} is not an option of {ifp_id} "
                f"({', '.join(question.options)})"
            )
        value = _number(path, number, "value", row["value"], low=0, high=1)
        if math.isnan(value):
            raise EncodingError(f"{path}: row {number}, column value: empty")
        forecasts.append(
            GjpForecast(
                ifp_id, row["user_id"].strip(), row["forecast_id"].strip(), option, value, row["timestamp"]
            )
        )
    if not forecasts:
        raise EncodingError(f"{path}: no forecasts")
    return forecasts
