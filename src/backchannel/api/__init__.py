"""The HTTP API of backchannel (ADR-0012): :func:`create_app` and the error table."""

from backchannel.api.app import create_app

__all__ = ["create_app"]
