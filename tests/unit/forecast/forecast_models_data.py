"""Paths to the shared reference data for the forecast-model tests (never copied into the repo).

A plain module rather than a ``conftest.py``, so that it cannot collide with
another branch's fixtures in ``tests/unit/forecast/``.
"""

from functools import cache
from pathlib import Path

from backchannel.forecast.dataset import IssueSet, load_deu

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
DEU_ISSUES = SHARED / "deu3-dev" / "deu3_issues_wide.csv"
DEU_POSITIONS = SHARED / "deu3-dev" / "deu3_positions_long.csv"
GJP_QUESTIONS = SHARED / "gjp" / "gjp_y1_questions.csv"
GJP_FORECASTS = SHARED / "gjp" / "gjp_y1_survey_sample.csv"


@cache
def shared_deu() -> IssueSet:
    """The EU-15 issues, loaded once per test process."""
    return load_deu(DEU_ISSUES, DEU_POSITIONS)
