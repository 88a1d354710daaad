"""Fixtures: the shared scenario document (a fresh copy per test, free to corrupt)."""

import copy
import json

import pytest
from negotiation_helpers import SCENARIO_FILE


@pytest.fixture(scope="session")
def scenario_document() -> dict:
    return json.loads(SCENARIO_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def document(scenario_document) -> dict:
    """A fresh deep copy of the shared scenario document, free to corrupt."""
    return copy.deepcopy(scenario_document)
