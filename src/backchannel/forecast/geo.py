"""Great-circle distances on a spherical Earth, vectorised with NumPy.

:func:`haversine_km` is the haversine formula on a sphere of the IUGG mean
radius (6371.0088 km). It is within about 0.5% of the ellipsoidal (Vincenty)
distance everywhere, which is far below the location precision of the event
feeds it serves.

This module does not project coordinates, handle ellipsoids or read data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "haversine_km"]

EARTH_RADIUS_KM = 6371.0088
"""The IUGG mean Earth radius, in km."""

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat1: float | FloatArray, lon1: float | FloatArray, lat2: float | FloatArray, lon2: float | FloatArray
) -> FloatArray:
    """Great-circle distances, in km, between points given in degrees (broadcasting).

    Args:
        lat1: Latitudes of the first points.
        lon1: Longitudes of the first points.
        lat2: Latitudes of the second points.
        lon2: Longitudes of the second points.

    Returns:
        The distances, shaped as the broadcast of the inputs.
    """
    phi1 = np.radians(lat1)
    phi2 = np.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = np.radians(np.asarray(lon2) - np.asarray(lon1)) / 2.0
    a = np.sin(half_dphi) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(half_dlambda) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)
