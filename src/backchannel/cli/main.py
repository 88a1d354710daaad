"""The ``backchannel`` command: a thin Typer + Rich adapter over the SDK and the service layer.

This module only builds the root app and mounts the sub-apps, one per
capability (each imports :mod:`backchannel.cli._common`, never this module):

- files and local logs: ``keys`` (:mod:`~backchannel.cli.keys`), ``track new | list``
  (:mod:`~backchannel.cli.tracks`), ``log`` (:mod:`~backchannel.cli.log`);
- the service: ``serve`` (:mod:`~backchannel.cli.serve`); its store: ``store migrate``
  (:mod:`~backchannel.cli.store`) and ``store keygen | rotate-key`` (:mod:`~backchannel.cli.store_keys`);
- a running service, through the SDK: ``track open``, ``party``, ``member``,
  ``agenda``, ``annex``, the message commands (``send``, ``relay``, ``reframe``,
  ``inbox``, ``settle``, ``receipts``, ``events``, ``escalations``:
  :mod:`~backchannel.cli.messages`), ``deal`` and ``commit``, ``text``,
  ``metric`` and ``escrow``, ``obligation``, ``witness`` and ``checkpoint``;
- ``demo`` (:mod:`~backchannel.cli.demo`, over :mod:`backchannel.demo`).

Every command ends through :func:`backchannel.cli._common.run`: a
:class:`~backchannel.errors.BackchannelError` is printed as its ``diagnostics()``
and exits with status 1; ``--verbose`` shows the traceback instead. Nothing
here prints a private key.
"""

from __future__ import annotations

from typing import Annotated

import typer

from backchannel.cli._common import err, out, run, set_verbose
from backchannel.cli.agenda import agenda_app
from backchannel.cli.annexes import annex_app
from backchannel.cli.console import console_app
from backchannel.cli.coordination import coord_app
from backchannel.cli.deals import commit_app, deal_app
from backchannel.cli.demo import demo_app
from backchannel.cli.escrow import attest_app, escrow_app, metric_app
from backchannel.cli.feeds import feed_app
from backchannel.cli.forecast import forecast_app
from backchannel.cli.forecast_live import forecast_live_app
from backchannel.cli.keys import keys_app
from backchannel.cli.language import language_app
from backchannel.cli.log import log_app
from backchannel.cli.messages import messages_app
from backchannel.cli.negotiate import negotiate_app
from backchannel.cli.obligations import obligation_app
from backchannel.cli.rehearse import rehearse_app
from backchannel.cli.serve import serve_app
from backchannel.cli.store_keys import store_app  # the `store` group of cli/store.py, with the key commands
from backchannel.cli.texts import text_app
from backchannel.cli.tournament import tournament_app
from backchannel.cli.tracks import member_app, party_app, track_app
from backchannel.cli.witness import checkpoint_app, witness_app

__all__ = ["app", "err", "main", "out", "run"]

app = typer.Typer(
    name="backchannel",
    help="Mediated negotiation with a signed, tamper-evident, verifiable log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")] = False,
) -> None:
    """Mediated negotiation with a signed, tamper-evident, verifiable log."""
    set_verbose(verbose)


app.add_typer(serve_app)  # `serve`
app.add_typer(messages_app)  # `send`, `relay`, `reframe`, `inbox`, `settle`, `receipts`, `events`, ...
app.add_typer(attest_app)  # `attest`
app.add_typer(keys_app, name="keys")
app.add_typer(track_app, name="track")
app.add_typer(log_app, name="log")
app.add_typer(store_app, name="store")  # `store migrate` (issue #14); `store keygen | rotate-key` (ADR-0057)
app.add_typer(demo_app, name="demo")
app.add_typer(party_app, name="party")
app.add_typer(member_app, name="member")
app.add_typer(agenda_app, name="agenda")
app.add_typer(annex_app, name="annex")
app.add_typer(keys_app, name="key", hidden=True)  # `key rotate` reads as well as `keys rotate`
app.add_typer(metric_app, name="metric")
app.add_typer(escrow_app, name="escrow")
app.add_typer(deal_app, name="deal")
app.add_typer(commit_app, name="commit")
app.add_typer(text_app, name="text")
app.add_typer(witness_app, name="witness")
app.add_typer(checkpoint_app, name="checkpoint")
app.add_typer(obligation_app, name="obligation")
app.add_typer(feed_app, name="feed")  # event feeds (issue #10)
forecast_app.add_typer(forecast_live_app)  # `forecast declare|request|show|share` on a live track (ADR-0045)
app.add_typer(forecast_app, name="forecast")  # forecasting models (issue #10)
app.add_typer(language_app, name="language")  # the language aid (issue #15)
app.add_typer(negotiate_app, name="negotiate")  # negotiate run | analyse (issue #9)
app.add_typer(tournament_app, name="tournament")  # negotiation tournaments (ADR-0033)
app.add_typer(rehearse_app, name="rehearse")  # rehearsal on the simulator (issue #11)
app.add_typer(coord_app, name="coord")  # multi-track coordination (issue #12)
app.add_typer(console_app)  # `console`: a one-time sign-in link to the web console (ADR-0047)


def main() -> None:
    """Console-script entry point."""
    app()
