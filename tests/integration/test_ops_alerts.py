"""The example alert rules (deploy/prometheus/alerts.yml) name only metrics a real app exports."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from backchannel.api.metrics import EXPORTED
from backchannel.node import Node, open_node
from backchannel.service.config import Settings
from backchannel.testing.server import running

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
_METRIC = re.compile(r"\bbackchannel_[a-z0-9_]+\b")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# the SLOs issue #12 asks for, each by the metric its alert reads
SLO_METRICS = {
    "backchannel_ack_latency_seconds_bucket",
    "backchannel_parties",
    "backchannel_escalations_total",
    "backchannel_witness_lag_entries",
    "backchannel_track_damaged",
}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names(tmp_path: Path) -> set[str]:
    """Every family and sample name a freshly started node's /metrics exposes."""
    nodes: list[Node] = []

    def make(url: str) -> Any:
        nodes.append(
            open_node(Settings.embedded(tmp_path / "node"), host="127.0.0.1", port=0, public_origin=url)
        )
        return nodes[0].app

    try:
        with running(make) as url:
            text = httpx.get(url + "/metrics", timeout=10).text
    finally:
        for node in nodes:
            node.close()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    # a family with no sample yet (no track, no queue) still has its HELP and TYPE lines
    names.update(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    return names


def test_every_alert_is_well_formed() -> None:
    found = rules()
    assert found
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"].startswith("Backchannel"), rule
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule
        assert rule["annotations"]["summary"], rule
        assert _METRIC.search(rule["expr"]), f"{rule['alert']} reads no backchannel metric"


def test_every_metric_an_alert_reads_is_exported(tmp_path: Path) -> None:
    exported = exported_names(tmp_path)
    named: set[str] = set()
    for rule in rules():
        for metric in _METRIC.findall(rule["expr"]):
            named.add(metric)
            family = next((metric.removesuffix(s) for s in _HISTOGRAM_SUFFIXES if metric.endswith(s)), metric)
            assert metric in exported or family in exported, f"{rule['alert']}: {metric} is not exported"
    assert named >= SLO_METRICS
    counters = {name.removesuffix("_total") for name in named}
    families = set(EXPORTED) | {name.removesuffix("_total") for name in EXPORTED}
    assert all(any(c.startswith(f) for f in families) for c in counters), counters - families


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)")
def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
