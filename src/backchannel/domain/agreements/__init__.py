"""Agreements and compliance (issue #4): pure domain rules beyond the live channel.

- :mod:`~backchannel.domain.agreements.text`: the negotiating text (the Camp
  David single text): versioned documents per track, stale edits refused with
  the current version, the ``mediator-only`` / ``shared`` policy, private
  comments to the mediator, and diffs between versions; its parts are
  ``text_model`` (records, limits, errors, the diff), ``text_commands`` and
  ``text_events``.

This package imports nothing on purpose: :mod:`backchannel.domain.commands`,
:mod:`~backchannel.domain.events` and :mod:`~backchannel.domain.state` import
modules of it while they load, so an import here of a module that needs them
back (``text``, which needs the track state) would be circular.
"""
