"""The console's routes and sign-in rules over real HTTP, without a browser (ADR-0046, ADR-0047).

A real server on 127.0.0.1 (``backchannel.testing.console_world``); tokens are
made as ``backchannel console`` makes them, then bent one rule at a time.
"""

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app as cli
from backchannel.protocol.console_token import (
    MAX_LIFETIME,
    make_signin_token,
    read_signin_token,
)
from backchannel.protocol.keyfile import write_key_file
from backchannel.testing.console_world import IRAN, IRAN_TRACK, QATAR, USA, World, client, doha, serving
from backchannel.testing.world import seeded_keys


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving(tmp_path_factory.mktemp("console")) as world:
        doha(world.url)
        yield world


def token(world: World, keys=QATAR, **overrides: object) -> str:
    options: dict[str, object] = {
        "origin": world.url,
        "track": IRAN_TRACK,
        "member": keys.name,
        "key": keys.signing,
        "now": datetime.now(UTC),
    }
    options.update(overrides)
    return make_signin_token(**options)  # type: ignore[arg-type]


def signin(world: World, value: str) -> httpx.Response:
    return httpx.get(f"{world.url}/console/signin", params={"token": value}, follow_redirects=False)


def signed_in(world: World, keys=QATAR) -> httpx.Cookies:
    response = signin(world, token(world, keys))
    assert response.status_code == 303, response.text
    return response.cookies


# ---- the token ------------------------------------------------------------------------------


def test_a_token_round_trips_and_names_what_it_signs(world: World) -> None:
    decoded = read_signin_token(token(world))
    assert (decoded.track, decoded.member, decoded.key_id) == (IRAN_TRACK, QATAR.name, QATAR.signing.key_id)
    assert decoded.expires_at - decoded.issued_at == timedelta(seconds=60)
    assert decoded.origin == world.url


def test_sign_in_sets_an_httponly_strict_cookie_and_redirects(world: World) -> None:
    response = signin(world, token(world))
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert QATAR.signing.private_bytes_unsafe().hex() not in response.headers["set-cookie"]


def test_a_token_works_once(world: World) -> None:
    value = token(world)
    assert signin(world, value).status_code == 303
    again = signin(world, value)
    assert again.status_code == 401
    assert "already used" in again.text
    assert "set-cookie" not in again.headers


@pytest.mark.parametrize(
    ("overrides", "status", "says"),
    [
        ({"now": datetime.now(UTC) - timedelta(minutes=2)}, 401, "expired at"),
        ({"lifetime": MAX_LIFETIME + timedelta(seconds=60)}, 401, "lives longer than the 120 s"),
        ({"origin": "http://127.0.0.1:1"}, 401, "made for http://127.0.0.1:1"),
        ({"now": datetime.now(UTC) + timedelta(minutes=10)}, 401, "issued in the future"),
        ({"member": USA.name}, 401, f"is not a key of {USA.name}"),
        ({"track": "no-such-track"}, 404, "no track"),
    ],
)
def test_a_bad_token_is_refused_naming_the_rule(
    world: World, overrides: dict[str, object], status: int, says: str
) -> None:
    response = signin(world, token(world, **overrides))
    assert response.status_code == status, response.text
    assert says in response.text
    assert "set-cookie" not in response.headers


def test_a_token_signed_by_another_key_is_refused(world: World) -> None:
    impostor = seeded_keys(99, QATAR.name)
    response = signin(world, token(world, key=impostor.signing, member=QATAR.name))
    assert response.status_code == 401
    assert "is not a key of qatar/principal" in response.text


def test_a_tampered_token_does_not_verify(world: World) -> None:
    payload, _, signature = token(world).partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["member"] = QATAR.name
    data["exp"] += 60
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    response = signin(world, f"{forged}.{signature}")
    assert response.status_code == 401
    assert "signature does not verify" in response.text


@pytest.mark.parametrize(
    ("value", "status", "says"),
    [
        ("", 400, "expected &lt;payload&gt;.&lt;signature&gt;"),
        ("abc.def", 400, "payload is not JSON"),
        ("e30.AAAA", 400, "exactly the fields"),
        ("x" * 5000, 422, "at most 4096 characters"),
    ],
)
def test_a_malformed_token_is_a_clear_error(world: World, value: str, status: int, says: str) -> None:
    response = signin(world, value)
    assert response.status_code == status
    assert says in response.text


# ---- sessions and pages -------------------------------------------------------------------


def test_without_a_session_the_console_explains_how_to_sign_in(world: World) -> None:
    home = httpx.get(f"{world.url}/console/")
    assert home.status_code == 200
    assert "backchannel console --server" in home.text
    track = httpx.get(f"{world.url}/console/tracks/{IRAN_TRACK}")
    assert track.status_code == 401
    assert "not signed in" in track.text
    stream = httpx.get(f"{world.url}/console/stream")
    assert stream.status_code == 401


def test_a_forged_cookie_is_refused(world: World) -> None:
    cookies = signed_in(world)
    value = cookies["backchannel_console"]
    payload, _, mac = value.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["e"] += 10**6
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    response = httpx.get(f"{world.url}/console/", cookies={"backchannel_console": f"{forged}.{mac}"})
    assert response.status_code == 401
    assert "not issued by this service" in response.text


def test_pages_carry_their_age_and_a_strict_policy(world: World) -> None:
    cookies = signed_in(world)
    page = httpx.get(f"{world.url}/console/tracks/{IRAN_TRACK}", cookies=cookies)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert 'src="/console/static/console.js"' in page.text
    assert "http://" not in page.text.replace(world.url, "")  # no CDN, nothing from elsewhere
    assert 'class="age read"' in page.text
    assert 'id="link"' in page.text


def test_the_assets_are_served_from_the_package(world: World) -> None:
    script = httpx.get(f"{world.url}/console/static/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert "reconnecting; last update" in script.text
    assert httpx.get(f"{world.url}/console/static/console.css").status_code == 200
    assert httpx.get(f"{world.url}/console/static/secrets.txt").status_code == 404


def test_the_stream_sends_the_view_then_freshness_and_is_counted(world: World) -> None:
    cookies = signed_in(world)
    events: list[str] = []
    with httpx.stream(
        "GET",
        f"{world.url}/console/stream",
        params={"view": f"/console/tracks/{IRAN_TRACK}"},
        cookies=cookies,
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        metrics = httpx.get(f"{world.url}/metrics").text
        assert "backchannel_console_clients 1.0" in metrics
        for line in stream.iter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
            if len(events) == 2:
                break
    assert events == ["view", "fresh"]


def test_the_stream_refuses_a_view_that_is_not_a_console_page(world: World) -> None:
    cookies = signed_in(world)
    response = httpx.get(f"{world.url}/console/stream", params={"view": "/v1/tracks"}, cookies=cookies)
    assert response.status_code == 422
    assert "is not a console page" in response.text


def test_the_cli_prints_a_link_the_service_accepts(world: World, tmp_path: Path) -> None:
    key = tmp_path / "iran.key"
    write_key_file(key, IRAN)
    result = CliRunner().invoke(
        cli, ["console", "--server", world.url, "--key", str(key), "--track", IRAN_TRACK, "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["member"] == IRAN.name
    assert document["link"].startswith(f"{world.url}/console/signin?token=")
    response = httpx.get(document["link"], follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["x-console-member"] == IRAN.name


def test_the_sdk_link_is_signed_by_the_members_key(world: World) -> None:
    with client(world.url, USA) as usa:
        link = usa.console_link(IRAN_TRACK, timedelta(seconds=30))
    decoded = read_signin_token(link.partition("token=")[2])
    assert decoded.key_id == USA.signing.key_id
    assert decoded.expires_at - decoded.issued_at == timedelta(seconds=30)


def test_the_demo_prints_a_console_link_that_signs_the_mediator_in(world: World, tmp_path: Path) -> None:
    from rich.console import Console

    from backchannel.demo.console import print_console_link

    write_key_file(tmp_path / "qatar-principal.key", QATAR)
    printed = Console(record=True, width=400)
    print_console_link(printed, world.url, tmp_path)
    text = printed.export_text()
    link = next(line for line in text.splitlines() if "/console/signin?token=" in line).strip()
    assert f"backchannel console --server {world.url} --key {tmp_path / 'qatar-principal.key'}" in text
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["x-console-member"] == QATAR.name
