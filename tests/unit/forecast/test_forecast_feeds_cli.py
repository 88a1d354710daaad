"""The `backchannel feed` commands, through Typer's runner on a real store and the real UCDP file."""

import csv
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backchannel.cli.feeds import feed_app
from backchannel.cli.main import app
from backchannel.forecast.events import EventReport
from backchannel.forecast.store import SQLiteFeedStore
from backchannel.forecast.watermark import Forecast, Watermark

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
UCDP = SHARED / "data" / "ucdp" / "ucdp_ged231_car.csv"
CAMEO = SHARED / "cameo" / "cameo-codes.icews.csv"
BANGUI = "4.3947,18.5582"


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(feed_app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feeds") / "feeds.db"
    code, output = invoke("import", UCDP, "--format", "ucdp", "--store", path, "--cameo", CAMEO, "--json")
    assert code == 0, output
    document = json.loads(output)
    assert (document["rows"], document["added"], len(document["warnings"])) == (1848, 1848, 20)
    return path


def test_the_feed_app_is_registered_on_the_main_cli() -> None:
    result = CliRunner().invoke(app, ["feed", "--help"])
    assert result.exit_code == 0
    assert "import" in result.output
    assert "radius" in result.output


def test_a_second_import_stores_nothing_new(store: Path) -> None:
    code, output = invoke("import", UCDP, "--format", "ucdp", "--store", store, "--cameo", CAMEO, "--json")
    assert code == 0
    assert (json.loads(output)["added"], json.loads(output)["duplicates"]) == (0, 1848)
    code, output = invoke("import", UCDP, "--format", "ucdp", "--store", store, "--cameo", CAMEO)
    assert code == 0
    assert "duplicates" in output


def test_list_and_radius(store: Path, tmp_path: Path) -> None:
    code, output = invoke("list", "--store", store, "--limit", "3", "--json")
    assert code == 0
    document = json.loads(output)
    assert (document["reports"], document["events"], len(document["shown"])) == (1848, 1848, 3)
    code, output = invoke("list", "--store", store, "--limit", "3")
    assert code == 0
    assert "1848 fused events" in output
    code, output = invoke("list", "--store", store, "--contradicted", "--json")
    assert json.loads(output)["shown"] == []
    args = ("radius", "--store", store, "--venue", BANGUI, "--radius-km", 300, "--since", "2021-01-01")
    code, output = invoke(*args, "--until", "2022-01-01", "--json")
    assert code == 0
    stats = json.loads(output)
    assert stats["window"]["events"] == 44
    assert stats["pictures"] == []
    code, output = invoke(
        *args,
        "--until",
        "2022-01-01",
        "--plot-map",
        tmp_path / "map.png",
        "--plot-series",
        tmp_path / "series.png",
    )
    assert code == 0
    assert "event rate vs baseline" in output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "series.png").stat().st_size > 10_000


def test_bad_input_ends_with_a_diagnostic(store: Path, tmp_path: Path) -> None:
    code, output = invoke(
        "radius", "--store", store, "--venue", "Bangui", "--since", "2021-01-01", "--until", "2022"
    )
    assert code == 1
    assert "LAT,LON" in output
    code, output = invoke("import", UCDP, "--format", "acled", "--store", tmp_path / "x.db")
    assert code == 1
    assert "--format: must be one of ucdp, generic" in output
    bad = tmp_path / "bad.csv"
    with UCDP.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:3]
    rows[1]["latitude"] = "north"
    with bad.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, output = invoke("import", bad, "--format", "ucdp", "--store", tmp_path / "x.db")
    assert code == 1
    assert "row 2, column 'latitude'" in output
    code, output = invoke(
        "import", bad, "--format", "ucdp", "--store", tmp_path / "x.db", "--collect-errors", "--json"
    )
    assert code == 0
    assert json.loads(output)["added"] == 2
    assert "row 2, column 'latitude'" in json.loads(output)["errors"][0]


def test_stale_reliability_and_audit(tmp_path: Path) -> None:
    path = tmp_path / "feeds.db"
    code, _ = invoke("import", UCDP, "--format", "ucdp", "--store", path)
    assert code == 0
    with SQLiteFeedStore(path) as feeds:
        seen = [s.report for s in feeds.reports()]
    created = datetime.now(UTC) - timedelta(hours=2)
    forecast = Forecast("agreement by June", created, Watermark.of(seen, created, len(seen)), {"p": 0.3})
    forecast_file = tmp_path / "forecast.json"
    forecast_file.write_text(json.dumps(forecast.to_dict(created)), encoding="utf-8")
    code, output = invoke("stale", "--forecast", forecast_file, "--venue", BANGUI, "--store", path, "--json")
    assert code == 0
    assert json.loads(output)["stale"] is False
    # a newer report inside the radius arrives
    newer = EventReport.from_dict({**seen[0].to_dict(), "report_id": "new-1", "source": "wire"})
    with SQLiteFeedStore(path) as feeds:
        feeds.append([newer], datetime.now(UTC))
    code, output = invoke("stale", "--forecast", forecast_file, "--venue", BANGUI, "--store", path)
    assert code == 0
    assert "computed 2 h" in output
    assert "STALE" in output
    assert "wire report new-1" in output
    code, output = invoke("stale", "--forecast", tmp_path / "none.json", "--venue", BANGUI, "--store", path)
    assert code == 1
    code, output = invoke("reliability", "wire", 0.9, "--store", path, "--json")
    assert json.loads(output)["reliability"] == {"wire": 0.9}
    code, output = invoke("reliability", "wire", 0.8, "--store", path)
    assert "wire: reliability 0.8" in output
    code, output = invoke("audit", "--store", path)
    assert code == 0
    assert "verified 1849 reports" in output
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("DROP TRIGGER reports_no_update")
        db.execute("UPDATE reports SET body = replace(body, '\"best\":0', '\"best\":9') WHERE seq = 1")
    code, output = invoke("audit", "--store", path, "--json")
    assert code == 1
    assert json.loads(output)["bad_seq"] == 1
    code, output = invoke("audit", "--store", path)
    assert code == 1
    assert "row 1: body does not hash to its digest" in output


def test_a_second_source_merges_and_its_contradiction_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "feeds.db"
    invoke("import", UCDP, "--format", "ucdp", "--store", path)
    with UCDP.open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["id"] == "22782")
    wire = [
        {
            "report_id": "w-1",
            "source": "wire",
            "time": row["date_start"],
            "latitude": float(row["latitude"]) + 0.01,
            "longitude": float(row["longitude"]),
            "actors": [row["side_b"], row["side_a"]],
            "cameo_code": "180",
            "goldstein": -9,
            "fatalities_best": 20,
        }
    ]
    (tmp_path / "wire.json").write_text(json.dumps(wire), encoding="utf-8")
    code, output = invoke("import", tmp_path / "wire.json", "--format", "generic", "--store", path, "--json")
    assert code == 0, output
    assert json.loads(output)["added"] == 1
    invoke("reliability", "wire", 0.9, "--store", path)
    code, output = invoke("list", "--store", path, "--contradicted", "--json")
    document = json.loads(output)
    assert (document["reports"], document["events"]) == (1849, 1848)
    (event,) = document["shown"]
    assert {p["source"] for p in event["provenance"]} == {"UCDP GED", "wire"}
    assert event["fatalities"]["best"] == 20  # the more reliable source leads
    (contradiction,) = event["contradictions"]
    assert contradiction["field"] == "fatalities"
    assert [v["value"] for v in contradiction["values"]] == ["best 0 low 0 high 20", "best 20 low 20 high 20"]
    code, output = invoke("list", "--store", path, "--contradicted")
    assert "fatalities x2" in output
