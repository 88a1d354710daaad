"""The negotiation engine: outcome spaces, private preferences, analysis and two engines, one rule set.

Modules:

- :mod:`~backchannel.negotiation.space`: discrete, enumerated outcome spaces (from scenario files and
  track agendas);
- :mod:`~backchannel.negotiation.preferences`: linear additive utilities, uncertainty, elicitation and
  the privacy of a party's preferences;
- :mod:`~backchannel.negotiation.analysis`: Pareto frontier, Nash, Kalai-Smorodinsky, welfare, ZOPA,
  opposition;
- :mod:`~backchannel.negotiation.scenario`: the shared engine-neutral scenario format;
- :mod:`~backchannel.negotiation.engine`: the reference (step-by-step) stacked-alternating-offers engine;
- :mod:`~backchannel.negotiation.vector`: the vectorised engine (many negotiations at once, same rules).

This package never imports ``backchannel.api``, ``backchannel.cli`` or the service node; it reads no
clock and draws no global randomness (a ``numpy.random.Generator`` is passed in where needed).
"""
