"""The operations console's parts (ADR-0046): sessions, the read model, HTML and SVG, static assets.

The routes are in :mod:`backchannel.api.routes.console`.
"""
