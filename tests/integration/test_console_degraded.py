"""Degraded states on the console (issue #12 item 6): a damaged track, a failing witness, a revoked key.

Real servers on 127.0.0.1; the pages are read as HTML.
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from backchannel.node import Node, open_node
from backchannel.protocol.console_token import make_signin_token
from backchannel.protocol.wire import sign_command
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.testing.console_world import IRAN_TRACK, QATAR, USA, client, doha, serving, sign_in
from backchannel.testing.server import running
from backchannel.testing.world import new_key_json, opening, seeded_keys

NORWAY = seeded_keys(7, "norway/principal")


def test_a_damaged_track_is_shown_as_damaged_and_the_others_as_usual(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path / "node")
    with open_node(settings, host="127.0.0.1", port=0, admission=Admission([QATAR.signing.key_id])) as node:
        for track in ("doha", "oslo"):
            for signer, command, body in opening(
                QATAR, node.keys, [USA], agenda=None, title=f"marker-{track}-title"
            ):
                node.tracks.execute(sign_command(
                    signer.signing, track=track, command=command, member=signer.name, body=body,
                    issued_at=datetime.now(UTC), nonce=secrets.token_hex(8),
                ))  # fmt: skip
    database = Settings.embedded(settings.data_dir).database
    data = bytearray(database.read_bytes())
    data[data.find(b"marker-doha-title") + 9] ^= 0x01
    database.write_bytes(bytes(data))
    nodes: list[Node] = []

    def make(url: str) -> Any:
        nodes.append(
            open_node(Settings.embedded(settings.data_dir), host="127.0.0.1", port=0, public_origin=url)
        )
        return nodes[0].app

    try:
        with running(make, lifespan=True) as url:
            page = httpx.get(f"{url}/console/", cookies=sign_in(url, "oslo")).text
            assert '<tr class="track damaged" data-track="doha">' in page
            assert "set aside by the start-up integrity check (first bad entry 1)" in page
            assert '<tr class="track ok" data-track="oslo">' in page
            assert "1 damaged" in page
            # a sign-in through the damaged track itself is refused (the API's 503)
            token = make_signin_token(
                origin=url, track="doha", member=QATAR.name, key=QATAR.signing, now=datetime.now(UTC)
            )
            refused = httpx.get(f"{url}/console/signin", params={"token": token})
            assert refused.status_code == 503
    finally:
        for node in nodes:
            node.close()


def test_a_witness_that_never_cosigned_is_shown_as_failing(tmp_path: Path) -> None:
    with serving(tmp_path) as world:
        doha(world.url)
        with client(world.url, QATAR) as qatar:
            admit = {
                "party": "norway",
                "kind": "witness",
                "principal": NORWAY.name,
                "principal_key": new_key_json(NORWAY),
            }
            qatar.execute("admit_party", admit, track=IRAN_TRACK)
        page = httpx.get(
            f"{world.url}/console/tracks/{IRAN_TRACK}", cookies=sign_in(world.url, IRAN_TRACK)
        ).text
        witnesses = page.split('<section id="witnesses"')[1].split("</section>")[0]
        assert "failing: not cosigning" in witnesses
        assert "witnesses norway" in witnesses
        assert "newest cosigned checkpoint none" in witnesses
        assert 'last cosignature <span class="none">never</span>' in witnesses


def test_a_revoked_key_loses_the_console_at_once(tmp_path: Path) -> None:
    delegate = seeded_keys(8, "usa/delegate")
    with serving(tmp_path) as world:
        doha(world.url)
        with client(world.url, USA) as usa:
            enrol = {"new_member": delegate.name, "role": "delegate", "new_key": new_key_json(delegate)}
            usa.execute("enroll_member", enrol, track=IRAN_TRACK)
        cookies = sign_in(world.url, IRAN_TRACK, delegate)
        assert httpx.get(f"{world.url}/console/tracks/{IRAN_TRACK}", cookies=cookies).status_code == 200
        with client(world.url, USA) as usa:  # usa's principal revokes its delegate's key
            revoke = {"subject": delegate.name, "revoked_key_id": delegate.signing.key_id}
            usa.execute("revoke_key", revoke, track=IRAN_TRACK)
        after = httpx.get(f"{world.url}/console/tracks/{IRAN_TRACK}", cookies=cookies)
        assert after.status_code == 404
        overview = httpx.get(f"{world.url}/console/", cookies=cookies).text
        assert IRAN_TRACK not in overview
