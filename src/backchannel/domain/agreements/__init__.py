"""Agreements and compliance (issue #4): pure rules over events, one module per feature.

- :mod:`~backchannel.domain.agreements.obligations`: obligations metered by
  token buckets, with an escalation ladder and hysteresis (the engine);
  :mod:`~backchannel.domain.agreements.obligation_events` (their events),
  :mod:`~backchannel.domain.agreements.obligation_rules` (decide and evolve),
  :mod:`~backchannel.domain.agreements.obligations_vec` (the same metering
  over NumPy arrays, for replays and benchmarks; the one domain module that
  imports NumPy).

This package ``__init__`` imports nothing, so importing one feature never
drags in another (or NumPy).
"""
