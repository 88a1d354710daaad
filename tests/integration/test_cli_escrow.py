"""The attestation and escrow CLI against ``backchannel serve`` (a real process on 127.0.0.1).

The server runs on the system clock, so the window is shown with attestations
observed on the days before now (``--observed-at``): a two-day predicate.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_cli_live import TRACK, Cli, keyfile, serving

PREDICATE = "iaea.enrichment_pct <= 3.67 sustained for 2 days"


def flat(output: str) -> str:
    """Rich output with borders dropped and whitespace collapsed (panels and tables wrap at any width)."""
    for border in "│┃╭╮╰╯─━┌┐└┘├┤┬┴┼┏┓┗┛┡┩╇":
        output = output.replace(border, " ")
    return " ".join(output.split())


def test_metric_attest_and_escrow_commands(tmp_path: Path) -> None:
    with serving(tmp_path / "server") as url:
        cli = Cli(url)
        qatar, usa, iran, iaea, euratom = (
            keyfile(tmp_path, f"{p}/principal") for p in ("qatar", "usa", "iran", "iaea", "euratom")
        )
        cli(qatar, "track", "open", TRACK, "--title", "Doha")
        for party, principal, kind in (("usa", usa, "delegation"), ("iran", iran, "delegation"),
                                       ("iaea", iaea, "inspector"), ("euratom", euratom, "inspector")):  # fmt: skip
            assert "party.admitted" in cli(
                qatar, "party", "admit", party, "--principal-key", principal, "--kind", kind
            )
        defined = cli(
            qatar, "metric", "define", "iaea.enrichment_pct", "--unit", "%", "--inspector", "iaea",
            "--inspector", "euratom", "--quorum", "2", "--tolerance", "0.1",
        )  # fmt: skip
        assert "define_metric: metric.defined" in defined

        wrong = cli(iaea, "attest", "iaea.enrichment_pct", "3.6", "--unit", "kg", "--site", "natanz", code=1)
        assert "422" in wrong
        assert "unit: 'kg' is not the unit of iaea.enrichment_pct, '%'" in flat(wrong)
        denied = cli(usa, "attest", "iaea.enrichment_pct", "3.6", "--unit", "%", "--site", "natanz", code=1)
        assert "403" in denied

        terms = tmp_path / "escrow.json"
        expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
        terms.write_text(json.dumps({
            "escrow_id": "frozen-assets",
            "items": [{"what": "frozen assets", "amount": 6000000000, "unit": "USD", "owner": "usa", "beneficiary": "iran"}],
            "signers": ["usa", "qatar"], "threshold": 2, "predicates": [PREDICATE], "expires_at": expires,
        }))  # fmt: skip
        opened = cli(qatar, "escrow", "open", terms)
        assert "open_escrow: escrow.opened" in opened
        assert "escrow digest: " in opened

        early = cli(iran, "escrow", "release", "frozen-assets", code=1)
        assert "409" in early
        assert f"0 of 2 signatures; predicate `{PREDICATE}` held 0 of 2 days" in flat(early)

        assert "escrow.release_signed" in cli(usa, "escrow", "sign", "frozen-assets")
        assert "escrow.release_signed" in cli(qatar, "escrow", "sign", "frozen-assets")
        now = datetime.now(UTC)
        for back in (2, 1):
            observed = (now - timedelta(days=back)).isoformat()
            cli(iaea, "attest", "iaea.enrichment_pct", "3.61", "--unit", "%", "--site", "natanz", "--observed-at", observed)  # fmt: skip
            counted = cli(euratom, "attest", "iaea.enrichment_pct", "3.6", "--unit", "%", "--site", "natanz", "--observed-at", observed)  # fmt: skip
            assert "quorum reached: iaea.enrichment_pct at natanz counts 3.6 %" in flat(counted)

        shown = flat(cli(usa, "escrow", "show", "frozen-assets"))
        assert "escrow frozen-assets" in shown
        assert "6,000,000,000 USD of frozen assets: usa -> iran" in shown
        assert "2 of 2 needed: usa (usa/principal), qatar (qatar/principal)" in shown
        assert "2 of 2 days" in shown
        assert "releasable: 2 of 2 signatures" in shown

        released = flat(cli(iran, "escrow", "release", "frozen-assets"))
        assert "release_escrow: escrow.released" in released
        assert "released: releasable: 2 of 2 signatures" in released
        after = flat(cli(usa, "escrow", "show", "frozen-assets"))
        assert "not releasable now: released at" in after
        assert "404" in cli(iaea, "escrow", "show", "frozen-assets", code=1)
