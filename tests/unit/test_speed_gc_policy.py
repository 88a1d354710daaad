"""The server's garbage-collector thresholds are raised once and a higher choice is kept (issue #13)."""

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.service.gc_policy import SERVER_GC_THRESHOLDS, tune_gc


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_default_thresholds_are_raised_to_the_server_s() -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_gc() == (700, 10, 10)
    assert gc.get_threshold() == SERVER_GC_THRESHOLDS


def test_higher_thresholds_or_a_disabled_collector_are_kept() -> None:
    gc.set_threshold(SERVER_GC_THRESHOLDS[0] * 2, 5, 5)
    tune_gc()
    assert gc.get_threshold() == (SERVER_GC_THRESHOLDS[0] * 2, 5, 5)
    gc.set_threshold(0, 5, 5)
    tune_gc()
    assert gc.get_threshold() == (0, 5, 5)


def test_opening_a_node_leaves_the_embedding_process_s_collector_alone(tmp_path: Path) -> None:
    from backchannel.node import open_node
    from backchannel.service.config import Settings

    gc.set_threshold(700, 10, 10)
    with open_node(Settings(data_dir=tmp_path / "data"), host="127.0.0.1", port=9):
        assert gc.get_threshold() == (700, 10, 10)
