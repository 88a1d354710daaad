"""Errors of the delivery broker, re-exported from :mod:`backchannel.errors`.

The delivery family lives in the library's one error tree::

    BackchannelError
    └── DeliveryError               a delivery could not be made as asked
        ├── WouldBlock              a *_nowait call on a full queue; carries retry_after (trio)
        └── UnknownDeliveryError    a message id this queue has never seen

Bad policies raise :class:`backchannel.errors.ConfigurationError`. Programming
errors (a naive datetime, an envelope routed to the wrong queue) raise
:class:`ValueError`, as :class:`backchannel.testing.clock.FakeClock` does.
The API layer maps ``WouldBlock`` to 429 with ``Retry-After``.
"""

from __future__ import annotations

from backchannel.errors import DeliveryError, UnknownDeliveryError, WouldBlock

__all__ = ["DeliveryError", "UnknownDeliveryError", "WouldBlock"]
