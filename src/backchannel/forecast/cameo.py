"""CAMEO event codes and their Goldstein weights, from the ICEWS code table.

:class:`CameoTable` loads ``cameo-codes.icews.csv`` (andybega/icews,
``data-raw/cameo-codes.csv``; the analyst points at it, the project does not
ship it) and looks codes up: :meth:`CameoTable.lookup` returns an
:class:`~backchannel.forecast.events.EventCode` with the table's Goldstein
weight, or raises naming the unknown code. Published Goldstein tables disagree
on a few codes (016, 022, 164, 165 differ between GDELT and ICEWS): this is
the ICEWS table, named as such in :attr:`CameoTable.name`.

:data:`ICEWS_FALLBACK` holds the handful of codes the UCDP importer maps to
when no table is given, copied from the same ICEWS table.

This module does not code text into events (no verb dictionaries) and does
not read the PETRARCH ``CAMEO.2.0.txt`` patterns.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backchannel.errors import EncodingError, NotFoundError
from backchannel.forecast.events import EventCode

__all__ = ["ICEWS_FALLBACK", "CameoTable"]

ICEWS_FALLBACK: Mapping[str, EventCode] = {
    "180": EventCode("180", -9.0, "Use unconventional violence"),
    "190": EventCode("190", -10.0, "Use conventional military force"),
    "200": EventCode("200", -10.0, "Use unconventional mass violence"),
}
"""The codes the UCDP importer uses, with their ICEWS Goldstein weights."""


@dataclass(frozen=True)
class CameoTable:
    """A CAMEO code table with Goldstein weights.

    Attributes:
        codes: Code -> :class:`EventCode` (with the table's name and weight).
        name: Which table this is (e.g. ``"ICEWS"``).
    """

    codes: Mapping[str, EventCode]
    name: str = "ICEWS"

    @classmethod
    def load(cls, path: Path) -> CameoTable:
        """Load the ICEWS CSV (columns ``code``, ``name``, ``goldstein`` among others).

        The file has a few bytes that are not UTF-8 in its example texts; they
        are replaced (only the codes, names and weights are used).

        Args:
            path: The CSV file.

        Returns:
            The table.

        Raises:
            NotFoundError: the file does not exist.
            EncodingError: a required column is missing, or a row has a bad code or weight
                (the message names the row).
        """
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError as e:
            raise NotFoundError(f"CAMEO table {path}: no such file") from e
        reader = csv.DictReader(io.StringIO(text))
        missing = {"code", "name", "goldstein"} - set(reader.fieldnames or ())
        if missing:
            raise EncodingError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        codes: dict[str, EventCode] = {}
        for row_number, row in enumerate(reader, start=2):
            codes[row["code"]] = _row_code(row, f"{path} row {row_number}")
        return cls(codes)

    def lookup(self, code: str) -> EventCode:
        """The code with its name and Goldstein weight.

        Args:
            code: The CAMEO code, e.g. ``"139"``.

        Returns:
            The table's entry.

        Raises:
            NotFoundError: the table has no such code.
        """
        try:
            return self.codes[code]
        except KeyError as e:
            raise NotFoundError(f"CAMEO code {code!r} is not in the {self.name} table") from e


def _row_code(row: Mapping[str, str], where: str) -> EventCode:
    try:
        weight = float(row["goldstein"])
    except ValueError as e:
        raise EncodingError(
            f"{where}, column 'goldstein': must be a number (got {row['goldstein']!r})"
        ) from e
    if not math.isfinite(weight):
        raise EncodingError(f"{where}, column 'goldstein': must be finite (got {row['goldstein']!r})")
    try:
        return EventCode(row["code"], weight, row["name"])
    except EncodingError as e:
        raise EncodingError(f"{where}: {e}") from e
