"""``python -m backchannel``: the same command as the ``backchannel`` script.

This module only hands over to :func:`backchannel.cli.main.app`.
"""

from backchannel.cli.main import app

if __name__ == "__main__":
    app(prog_name="backchannel")
