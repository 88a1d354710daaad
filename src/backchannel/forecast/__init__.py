"""Forecasting and intelligence fusion (issue #10).

The event-feed half: :mod:`~backchannel.forecast.events` (the report record),
:mod:`~backchannel.forecast.feeds` (UCDP and generic import),
:mod:`~backchannel.forecast.fusion` (merging reports with provenance),
:mod:`~backchannel.forecast.store` (the append-only feed store),
:mod:`~backchannel.forecast.radius` (events around a venue),
:mod:`~backchannel.forecast.plots` (map and series pictures) and
:mod:`~backchannel.forecast.watermark` (watermarks and staleness).

The models half: :mod:`~backchannel.forecast.dataset` (DEU III and GJP
loaders), :mod:`~backchannel.forecast.models`,
:mod:`~backchannel.forecast.models_nash` and
:mod:`~backchannel.forecast.models_eu` (bargaining models and Monte Carlo
intervals), :mod:`~backchannel.forecast.ensemble` (disagreement flag and the
learned headline), :mod:`~backchannel.forecast.backtest`,
:mod:`~backchannel.forecast.pooling` and
:mod:`~backchannel.forecast.reliability` (probability pooling, scores and
reliability diagrams).

This package never imports ``backchannel.api``, ``backchannel.cli`` or the
service's composition root.
"""
