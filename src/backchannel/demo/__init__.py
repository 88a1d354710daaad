"""The demo scenes: scripted talks that drive a real server through the SDK.

- :mod:`backchannel.demo.live`: the live Doha talks (``backchannel demo``), on
  :mod:`~backchannel.demo.stage` (members, clients, witness, checks) and
  :mod:`~backchannel.demo.server` (``backchannel serve`` in a subprocess);
- its scenes: :mod:`~backchannel.demo.texts`, :mod:`~backchannel.demo.deals`,
  :mod:`~backchannel.demo.escrow`, :mod:`~backchannel.demo.obligations`,
  :mod:`~backchannel.demo.transcript`;
- :mod:`backchannel.demo.foundation`: the foundation demo on the embedded store
  (``backchannel demo log``).

The CLI's ``demo`` command is a thin adapter over :func:`backchannel.demo.live.run_live_demo`.
This package is not imported by the library, the service or the API.
"""
