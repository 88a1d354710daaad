"""One ``APIRouter`` per capability; :func:`backchannel.api.app.create_app` includes them all.

Each module has ``router(ctx)``, binding its routes to the shared
:class:`~backchannel.api.context.ApiContext`: ``commands`` (signed commands and
batches), ``log`` (entries, leaves, checkpoints, proofs, proofs of receipt),
``escrow``, ``obligations``, ``tracks`` (the service's keys), ``delivery``
(inbox, heartbeats, presence), ``annexes``, ``deals``, ``witnesses``, ``texts``,
``forecasts`` and ``language`` (ADR-0045),
``admin`` (``GET /v1/tracks``, the event search's filters), ``coordination`` (issue #12)
and ``ops`` (``/metrics``, ``/healthz``, ``/readyz``; ``router(ctx, metrics, token=...)``).
"""
