"""A sweep of a few dozen seeds of doha-shuttle: no violations, SLO figures as distributions."""

from backchannel.api import create_app
from backchannel.sim import sweep


def test_thirty_seeds_of_doha_shuttle_break_no_invariant():
    seen = []
    report = sweep("doha-shuttle", 30, create_app, progress=seen.append)
    assert report.failing == {}, report.failing
    assert [r.seed for r in seen] == list(range(30))
    assert report.seeds == 30
    assert set(report.faults) >= {"crash", "drop_response", "duplicate", "offline"}
    dist = report.distributions()
    assert dist["flash"]["count"] == 30
    assert dist["routine"]["count"] == 60
    assert 0 < dist["routine"]["p50"] <= dist["routine"]["p90"] <= dist["routine"]["max"]
    assert 0 <= dist["flash"]["within_slo"] <= 1
    doc = report.to_dict()
    assert doc["violations"] == 0
    assert doc["slo_seconds"] == {"flash": 120.0, "routine": 600.0}
