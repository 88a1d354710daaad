"""Map and series pictures: real PNGs, and the radius circle is the true great circle."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from backchannel.forecast.feeds import read_feed
from backchannel.forecast.geo import haversine_km
from backchannel.forecast.plots import circle_points, plot_map, plot_series
from backchannel.forecast.radius import EventArrays, RadiusQuery, Venue

UCDP = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ucdp" / "ucdp_ged231_car.csv"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("lat", "lon", "radius"),
    [(4.39, 18.56, 800.0), (60.0, 10.0, 300.0), (-33.9, 151.2, 50.0), (0.0, 179.9, 500.0)],
)
def test_the_circle_is_at_the_radius_everywhere(lat: float, lon: float, radius: float) -> None:
    ring = circle_points(lat, lon, radius)
    distances = haversine_km(lat, lon, ring[:, 0], ring[:, 1])
    assert np.allclose(distances, radius, rtol=1e-9)
    assert ring.shape == (361, 2)
    assert np.all(np.abs(ring[:, 1]) <= 180.0)


def test_pictures_are_written(tmp_path: Path) -> None:
    arrays = EventArrays.of(read_feed(UCDP, "ucdp").reports)
    query = RadiusQuery(
        Venue(4.39, 18.56, "Bangui"), datetime(2014, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC)
    )
    for draw, name in ((plot_map, "map.png"), (plot_series, "series.png")):
        out = draw(arrays, query, tmp_path / name)
        data = out.read_bytes()
        assert data[:8] == PNG
        assert len(data) > 20_000


def test_pictures_of_nothing_still_draw(tmp_path: Path) -> None:
    query = RadiusQuery(
        Venue(46.2, 6.1), datetime(2014, 1, 1, tzinfo=UTC), datetime(2014, 3, 1, tzinfo=UTC), 100, 30
    )
    assert plot_map([], query, tmp_path / "m.png").read_bytes()[:8] == PNG
    assert plot_series([], query, tmp_path / "s.png").read_bytes()[:8] == PNG
