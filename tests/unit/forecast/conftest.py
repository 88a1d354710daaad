"""Fixtures for the forecast tests: the shared reference data (never copied into the repo)."""

from pathlib import Path

import pytest

from backchannel.forecast.dataset import IssueSet, load_deu

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
DEU_ISSUES = SHARED / "deu3-dev" / "deu3_issues_wide.csv"
DEU_POSITIONS = SHARED / "deu3-dev" / "deu3_positions_long.csv"
GJP_QUESTIONS = SHARED / "gjp" / "gjp_y1_questions.csv"
GJP_FORECASTS = SHARED / "gjp" / "gjp_y1_survey_sample.csv"


@pytest.fixture(scope="session")
def deu() -> IssueSet:
    return load_deu(DEU_ISSUES, DEU_POSITIONS)
