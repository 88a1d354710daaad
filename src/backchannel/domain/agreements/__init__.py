"""Agreements and compliance (issue #4): what a negotiation ends in, as pure domain logic.

- :mod:`~backchannel.domain.agreements.text`: the negotiating text (the Camp
  David single text): versioned documents per track, stale edits refused with
  the current version, the ``mediator-only`` / ``shared`` policy, private
  comments to the mediator, and diffs between versions; its parts are
  ``text_model`` (records, limits, errors, the diff), ``text_commands`` and
  ``text_events``.
- :mod:`~backchannel.domain.agreements.deals`: staged deals (phases of
  reciprocal steps) and their two-phase commit: the terms, the records and
  the events; :mod:`~backchannel.domain.agreements.deal_commands` holds the
  commands and ``_deal_rules`` decides them.
- :mod:`~backchannel.domain.agreements.commitments`: commit-reveal
  commitments; :mod:`~backchannel.domain.agreements.commitment_commands` holds
  the commands and ``_commitment_rules`` decides them.

The split (terms, records and events / commands / rules) follows the track
domain's own and keeps the imports acyclic: ``events`` and ``state`` import
the first kind, ``commands`` the second, ``track`` and ``evolve`` the third.

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

Obligations (ADR-0018):

- :mod:`~backchannel.domain.agreements.obligations`: obligations metered by
  token buckets, with an escalation ladder and hysteresis (the engine);
  :mod:`~backchannel.domain.agreements.obligation_events` (their events),
  :mod:`~backchannel.domain.agreements.obligation_rules` (decide and evolve),
  :mod:`~backchannel.domain.agreements.obligations_vec` (the same metering
  over NumPy arrays, for replays and benchmarks; nothing else imports NumPy).

This package's ``__init__`` imports nothing, so any module of it can be
imported from the domain's core modules without an import cycle.
"""
