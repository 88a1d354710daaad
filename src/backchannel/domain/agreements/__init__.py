"""Agreements and compliance (issue #4): pure domain modules, one per feature.

Attestations and escrow (ADR-0017):

- :mod:`~backchannel.domain.agreements.predicates`: the predicate language
  (``iaea.enrichment_pct <= 3.67 sustained for 30 days``) and its evaluation;
- :mod:`~backchannel.domain.agreements.quorum`: the quorum rule (m of k
  inspectors agreeing within a tolerance), as pure functions;
- :mod:`~backchannel.domain.agreements.attestation_book` and
  :mod:`~backchannel.domain.agreements.escrow_book`: what the track's state
  holds, and the escrow check (:class:`EscrowCheck`);
- :mod:`~backchannel.domain.agreements.attestations` and
  :mod:`~backchannel.domain.agreements.escrow`: the decide functions.

This package's ``__init__`` imports nothing, so any module of it can be
imported from the domain's core modules without an import cycle.
"""
