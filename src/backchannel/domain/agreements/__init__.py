"""Agreements and compliance (issue #4): what a negotiation ends in, as pure domain logic.

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
"""
