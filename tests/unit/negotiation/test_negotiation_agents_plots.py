"""PNG pictures: the utility space, concession curves and tournament heatmaps are written and readable."""

import numpy as np
import pyarrow as pa
import pytest
from matplotlib.image import imread
from negotiation_agents_data import SCENARIO_FILE, profile

from backchannel.errors import ConfigurationError
from backchannel.negotiation.agents import boulware, conceder, hardliner
from backchannel.negotiation.plots import plot_concession, plot_tournament, plot_utility_space
from backchannel.negotiation.protocols import ProtocolResult, run_sao
from backchannel.negotiation.tournament import (
    RESULT_SCHEMA,
    Tournament,
    problems_from_file,
    read_results,
    run_tournament,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = imread(path)
    assert pixels.ndim == 3
    assert pixels.shape[0] > 300
    assert pixels.shape[1] > 300
    assert pixels.std() > 0.05  # not a blank canvas
    return pixels


def _run(i=3):
    u, r = profile(i)
    return u, r, run_sao([boulware(), conceder()], u, r, n_rounds=100, rng=np.random.default_rng(0))


def test_utility_space_with_and_without_a_run(tmp_path) -> None:
    u, r, result = _run()
    bare = plot_utility_space(u, r, tmp_path / "bare.png")
    with_run = plot_utility_space(
        u, r, tmp_path / "sub" / "run.png", result=result, labels=("Boulware", "Conceder")
    )
    assert with_run == tmp_path / "sub" / "run.png"
    assert not np.array_equal(_image(bare), _image(with_run))


def test_utility_space_without_a_zone_of_agreement_has_no_nash_point(tmp_path) -> None:
    u, r = profile(2)
    _image(plot_utility_space(u, r, tmp_path / "p2.png", title="no ZOPA"))


def test_utility_space_needs_two_parties(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="2 parties"):
        plot_utility_space(np.zeros((4, 3)), [0, 0, 0], tmp_path / "x.png")


def test_concession_curves(tmp_path) -> None:
    u, _, result = _run()
    _image(plot_concession(u, result, tmp_path / "c.png", labels=["Boulware", "Conceder"]))
    timeout = run_sao([hardliner(), hardliner()], u, profile(3)[1], n_rounds=20, rng=np.random.default_rng(0))
    _image(plot_concession(u, timeout, tmp_path / "t.png"))


def test_concession_refuses_runs_without_offers_and_mismatched_labels(tmp_path) -> None:
    u, _, result = _run()
    with pytest.raises(ConfigurationError, match="labels"):
        plot_concession(u, result, tmp_path / "c.png", labels=["only one"])
    with pytest.raises(ConfigurationError, match="no offers"):
        plot_concession(u, ProtocolResult("veto-text", None, 1, ()), tmp_path / "c.png")


def test_tournament_heatmaps(tmp_path) -> None:
    t = Tournament(
        ("boulware", "hardliner"),
        ("conceder", "random", "tit-for-tat"),
        tuple(problems_from_file(SCENARIO_FILE)[:2]),
    )
    run_tournament(t, tmp_path / "runs", workers=1)
    _image(plot_tournament(read_results(tmp_path / "runs"), tmp_path / "heat.png"))
    with pytest.raises(ConfigurationError, match="no tournament results"):
        plot_tournament(RESULT_SCHEMA.empty_table(), tmp_path / "empty.png")
    assert isinstance(RESULT_SCHEMA.empty_table(), pa.Table)
