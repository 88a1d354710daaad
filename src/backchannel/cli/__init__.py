"""The ``backchannel`` command line (Typer + Rich), a thin adapter over the service layer."""
