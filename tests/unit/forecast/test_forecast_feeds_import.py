"""Feed import: the real UCDP file, the generic format in CSV and JSON, bad rows named."""

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backchannel.errors import EncodingError, NotFoundError
from backchannel.forecast.cameo import CameoTable
from backchannel.forecast.events import DatePrecision, EventReport, LocationPrecision
from backchannel.forecast.feeds import FeedRowError, parse_rows, read_feed

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
UCDP = SHARED / "data" / "ucdp" / "ucdp_ged231_car.csv"
CAMEO = SHARED / "cameo" / "cameo-codes.icews.csv"


@pytest.fixture(scope="module")
def cameo() -> CameoTable:
    return CameoTable.load(CAMEO)


@pytest.fixture(scope="module")
def ucdp_rows() -> list[dict[str, str]]:
    with UCDP.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_real_ucdp_file_imports_every_row(cameo: CameoTable, ucdp_rows: list[dict[str, str]]) -> None:
    done: list[tuple[int, int]] = []
    result = read_feed(UCDP, "ucdp", cameo=cameo, progress=lambda n, total: done.append((n, total)))
    assert result.rows == len(ucdp_rows) == 1848
    assert len(result.reports) == 1848
    assert result.errors == ()
    assert done[-1] == (1848, 1848)
    # precision fields carried over exactly, code for code
    for report, row in zip(result.reports, ucdp_rows, strict=True):
        assert report.report_id == row["id"]
        assert int(report.time.precision) == int(row["date_prec"])
        assert int(report.location.precision) == int(row["where_prec"])
        assert report.actors == (row["side_a"], row["side_b"])
        assert report.fatalities is not None
        assert (report.fatalities.best, report.fatalities.low, report.fatalities.high) == (
            int(row["best"]),
            int(row["low"]),
            int(row["high"]),
        )
    by_precision = {p: sum(r.location.precision == p for r in result.reports) for p in LocationPrecision}
    assert by_precision[LocationPrecision.EXACT] == sum(row["where_prec"] == "1" for row in ucdp_rows)
    first = result.reports[0]
    assert first.time.start == datetime(1991, 8, 8, tzinfo=UTC)
    assert first.location.name == "Bangui city"
    assert first.event_code is not None
    assert (first.event_code.code, first.event_code.goldstein) == ("180", -9.0)  # one-sided violence


def test_ucdp_rows_with_unordered_deaths_are_kept_with_a_warning(cameo: CameoTable) -> None:
    result = read_feed(UCDP, "ucdp", cameo=cameo)
    unordered = [r for r in result.reports if r.fatalities is not None and not r.fatalities.ordered]
    assert len(result.warnings) == len(unordered) > 0
    assert "deaths not ordered" in result.warnings[0]


def test_ucdp_without_a_table_uses_the_icews_fallback(ucdp_rows: list[dict[str, str]]) -> None:
    state_based = next(row for row in ucdp_rows if row["type_of_violence"] == "1")
    (report,) = parse_rows([state_based], "ucdp").reports
    assert report.event_code is not None
    assert (report.event_code.code, report.event_code.goldstein) == ("190", -10.0)


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("latitude", "north", "must be a number"),
        ("latitude", "91", r"must be in \[-90, 90\]"),
        ("date_prec", "9", "must be one of 1, 2, 3, 4, 5"),
        ("where_prec", "", "is required"),
        ("date_end", "1990-01-01", "must not be before the start"),
        ("date_start", "08/08/1991", "must be an ISO 8601"),
        ("best", "-3", "must be >= 0"),
        ("type_of_violence", "4", "must be one of 1, 2, 3"),
        ("event_clarity", "x", "must be a whole number"),
        ("side_a", " ", "is required"),
    ],
)
def test_a_bad_ucdp_row_is_named(ucdp_rows: list[dict[str, str]], column: str, value: str, rule: str) -> None:
    rows = [dict(row) for row in ucdp_rows[:5]]
    rows[2][column] = value
    with pytest.raises(FeedRowError, match=rf"car\.csv row 3, column '{column}': {rule}") as caught:
        parse_rows(rows, "ucdp", where="car.csv")
    assert (caught.value.row, caught.value.column) == (3, column)


def test_bad_rows_can_be_collected_and_skipped(ucdp_rows: list[dict[str, str]]) -> None:
    rows = [dict(row) for row in ucdp_rows[:10]]
    rows[1]["latitude"] = "x"
    rows[7]["best"] = "many"
    result = parse_rows(rows, "ucdp", collect_errors=True)
    assert len(result.reports) == 8
    assert [(e.row, e.column) for e in result.errors] == [(2, "latitude"), (8, "best")]


def test_a_missing_ucdp_column_is_named(tmp_path: Path, ucdp_rows: list[dict[str, str]]) -> None:
    path = tmp_path / "short.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in ucdp_rows[0] if k != "where_prec"])
        writer.writeheader()
        writer.writerow({k: v for k, v in ucdp_rows[0].items() if k != "where_prec"})
    with pytest.raises(FeedRowError, match="row 0, column 'where_prec': missing UCDP column"):
        read_feed(path, "ucdp", collect_errors=True)


def test_ucdp_json_with_numbers_imports(tmp_path: Path, ucdp_rows: list[dict[str, str]]) -> None:
    rows = [dict(row) for row in ucdp_rows[:3]]
    for row in rows:
        for key in (
            "id",
            "date_prec",
            "where_prec",
            "best",
            "low",
            "high",
            "type_of_violence",
            "event_clarity",
        ):
            row[key] = int(row[key])  # type: ignore[assignment]
        row["latitude"] = float(row["latitude"])  # type: ignore[assignment]
    path = tmp_path / "ucdp.json"
    path.write_text(json.dumps({"events": rows}), encoding="utf-8")
    from_json = read_feed(path, "ucdp").reports
    assert [r.digest() for r in from_json] == [r.digest() for r in parse_rows(ucdp_rows[:3], "ucdp").reports]


GENERIC = [
    {
        "report_id": "w-1",
        "source": "Wire",
        "time": "2021-03-04T10:30:00+01:00",
        "date_precision": "day",
        "latitude": "4.36",
        "longitude": "18.58",
        "location_precision": "near",
        "location_name": "Bangui",
        "actors": "FPRC; Civilians",
        "cameo_code": "190",
        "goldstein": "-10",
        "confidence": "0.8",
        "fatalities_best": "3",
        "fatalities_low": "2",
        "fatalities_high": "5",
        "reference": "https://example.org/a",
    },
    {
        "report_id": "w-2",
        "source": "Wire",
        "time": "2021-03-15",
        "date_precision": "month",
        "latitude": "5",
        "longitude": "20",
        "location_precision": "4",
        "actors": "A;B",
    },
]


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = sorted({k for row in rows for k in row})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_generic_format_from_csv(tmp_path: Path, cameo: CameoTable) -> None:
    result = read_feed(_write_csv(tmp_path / "g.csv", GENERIC), "generic", cameo=cameo)
    first, second = result.reports
    assert first.time.start == datetime(2021, 3, 4, 9, 30, tzinfo=UTC)
    assert first.location.precision is LocationPrecision.NEAR
    assert first.actors == ("FPRC", "Civilians")
    assert first.event_code == cameo.lookup("190")
    assert first.confidence == 0.8
    assert first.fatalities is not None
    assert (first.fatalities.best, first.fatalities.low, first.fatalities.high) == (3, 2, 5)
    # a single time with month precision widens to the calendar month
    assert second.time.precision is DatePrecision.MONTH
    assert (second.time.start, second.time.end) == (
        datetime(2021, 3, 1, tzinfo=UTC),
        datetime(2021, 3, 31, tzinfo=UTC),
    )
    assert second.event_code is None
    assert second.fatalities is None
    assert second.location.precision is LocationPrecision.ADM1


def test_the_generic_format_from_json_matches_csv(tmp_path: Path, cameo: CameoTable) -> None:
    rows = [dict(row) for row in GENERIC]
    rows[0]["actors"] = ["FPRC", "Civilians"]  # type: ignore[assignment]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    from_json = read_feed(path, "generic", cameo=cameo).reports
    from_csv = read_feed(_write_csv(tmp_path / "g.csv", GENERIC), "generic", cameo=cameo).reports
    assert from_json == from_csv


@pytest.mark.parametrize(
    ("precision", "start", "end"),
    [
        ("days", "2021-03-01", "2021-03-07"),
        ("week", "2021-03-01", "2021-03-07"),
        ("year", "2021-01-01", "2021-12-31"),
        ("2", "2021-03-01", "2021-03-07"),
    ],
)
def test_coarse_single_times_widen(precision: str, start: str, end: str) -> None:
    row = {**GENERIC[1], "time": "2021-03-04", "date_precision": precision}
    (report,) = parse_rows([row], "generic").reports
    assert report.time.start.date().isoformat() == start
    assert report.time.end.date().isoformat() == end


def test_time_start_and_end(cameo: CameoTable) -> None:
    row = {k: v for k, v in GENERIC[1].items() if k != "time"}
    row |= {"time_start": "2021-03-02", "time_end": "2021-03-05", "date_precision": "days"}
    (report,) = parse_rows([row], "generic").reports
    assert (report.time.start.day, report.time.end.day) == (2, 5)


@pytest.mark.parametrize(
    ("changes", "column", "rule"),
    [
        ({"cameo_code": "999"}, "cameo_code", "must be a code of the ICEWS table"),
        ({"cameo_code": "1x"}, "cameo_code", "must be a CAMEO code of 2-4 digits"),
        ({"goldstein": "-5"}, "goldstein", "must equal the ICEWS table's -10 for code 190"),
        ({"goldstein": "-11"}, "goldstein", r"must be in \[-10, 10\]"),
        ({"confidence": "1.5"}, "confidence", r"must be in \[0, 1\]"),
        ({"location_precision": "city"}, "location_precision", "must be one of exact|near"),
        ({"date_precision": "9"}, "date_precision", "must be one of day.*or a code 1-5"),
        ({"actors": "A;;B"}, "actors", "must be actor names.*none empty"),
        ({"time": "yesterday"}, "time", "must be an ISO 8601"),
        ({"time_start": "2021-01-01"}, "time_start", "must be empty when 'time' is given"),
        ({"fatalities_best": "9"}, "fatalities_best", "must satisfy low <= best <= high"),
        ({"colour": "red"}, "colour", "unknown column"),
        ({"report_id": ""}, "report_id", "is required"),
    ],
)
def test_a_bad_generic_row_is_named(
    cameo: CameoTable, changes: dict[str, str], column: str, rule: str
) -> None:
    rows = [GENERIC[1], {**GENERIC[0], **changes}]
    with pytest.raises(FeedRowError, match=rf"row 2, column '{column}': {rule}"):
        parse_rows(rows, "generic", cameo=cameo)


def test_goldstein_is_required_without_a_table() -> None:
    row = {k: v for k, v in GENERIC[0].items() if k != "goldstein"}
    with pytest.raises(FeedRowError, match="column 'goldstein': is required"):
        parse_rows([row], "generic")
    (report,) = parse_rows([GENERIC[0]], "generic").reports
    assert report.event_code is not None
    assert (report.event_code.code, report.event_code.goldstein) == ("190", -10.0)


def test_goldstein_without_a_code_is_refused() -> None:
    row = {**GENERIC[1], "goldstein": "2"}
    with pytest.raises(FeedRowError, match="column 'cameo_code': is required when 'goldstein' is given"):
        parse_rows([row], "generic")


def test_fatalities_bounds_need_a_best_and_default_to_it() -> None:
    with pytest.raises(FeedRowError, match="fatalities_best.*is required when 'fatalities_high'"):
        parse_rows([{**GENERIC[1], "fatalities_high": "3"}], "generic")
    (report,) = parse_rows([{**GENERIC[1], "fatalities_best": "4"}], "generic").reports
    assert report.fatalities is not None
    assert (report.fatalities.low, report.fatalities.high) == (4, 4)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_feed(tmp_path / "none.csv", "generic")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(EncodingError, match="malformed JSON"):
        read_feed(bad, "generic")
    bad.write_text('{"events": 3}', encoding="utf-8")
    with pytest.raises(EncodingError, match="list of objects"):
        read_feed(bad, "generic")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"report_id\n\xe9\n")
    with pytest.raises(EncodingError, match="UTF-8"):
        read_feed(latin, "generic")
    with pytest.raises(EncodingError, match="format: must be one of ucdp, generic"):
        read_feed(latin, "acled")  # type: ignore[arg-type]


def test_the_cameo_table(cameo: CameoTable, tmp_path: Path) -> None:
    assert len(cameo.codes) == 312
    assert cameo.lookup("139").goldstein == -7.0
    with pytest.raises(NotFoundError, match="'999' is not in the ICEWS table"):
        cameo.lookup("999")
    with pytest.raises(NotFoundError):
        CameoTable.load(tmp_path / "none.csv")
    (tmp_path / "t.csv").write_text("code,name\n01,x\n", encoding="utf-8")
    with pytest.raises(EncodingError, match="missing column"):
        CameoTable.load(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("code,name,goldstein\n01,x,big\n", encoding="utf-8")
    with pytest.raises(EncodingError, match="row 2, column 'goldstein'"):
        CameoTable.load(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("code,name,goldstein\n01,x,inf\n", encoding="utf-8")
    with pytest.raises(EncodingError, match="finite"):
        CameoTable.load(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("code,name,goldstein\n0x1,x,1\n", encoding="utf-8")
    with pytest.raises(EncodingError, match="row 2: event_code.code"):
        CameoTable.load(tmp_path / "t.csv")


def test_reports_round_trip_through_json(cameo: CameoTable) -> None:
    for report in read_feed(UCDP, "ucdp", cameo=cameo).reports[:200]:
        again = EventReport.from_dict(json.loads(json.dumps(report.to_dict())))
        assert again == report
        assert again.digest() == report.digest()
