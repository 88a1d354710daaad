"""Two service nodes on one PostgreSQL store: commands to one track through either node form one log.

Each node has its own data directory holding copies of the same log key and node
key (the keys the track enrols); the tracks live in one PostgreSQL schema. A node
whose view of the track is stale loses the append race, reloads the track and
decides again (the service's ordinary ConflictError path), so the log stays one chain.
"""

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from backchannel.node import Node, open_node
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.service.export import verify_store
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-talks"
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


@pytest.fixture
def two_nodes(tmp_path: Path, postgres_url: str) -> Iterator[tuple[str, str]]:
    """Two nodes (A and B) on one store, each serving on its own 127.0.0.1 port; their URLs."""
    first = Settings(data_dir=tmp_path / "a", store_url=postgres_url)
    second = Settings(data_dir=tmp_path / "b", store_url=postgres_url)
    nodes: list[Node] = []

    def make(settings: Settings) -> Any:
        def build(url: str) -> Any:
            node = open_node(settings, host="127.0.0.1", port=0, public_origin=url,
                             admission=Admission([QATAR.signing.key_id]))  # fmt: skip
            nodes.append(node)
            return node.app

        return build

    with ExitStack() as stack:
        stack.callback(lambda: [node.close() for node in nodes])
        url_a = stack.enter_context(running(make(first)))
        second.data_dir.mkdir(mode=0o700)
        for key in ("log.key", "node.key"):  # the same log and service keys on both nodes
            shutil.copy2(first.data_dir / key, second.data_dir / key)
        url_b = stack.enter_context(running(make(second)))
        yield url_a, url_b


def client(url: str, keys: Any) -> BackchannelClient:
    return BackchannelClient(url, keys.name, keys, sleep=lambda _: None)


def test_commands_through_two_nodes_form_one_verifiable_log(
    two_nodes: tuple[str, str], postgres_url: str
) -> None:
    url_a, url_b = two_nodes
    with (
        client(url_a, QATAR) as qatar_a,
        client(url_b, QATAR) as qatar_b,
        client(url_b, USA) as usa_b,
        client(url_a, IRAN) as iran_a,
    ):
        service_key = qatar_a.service_info()["service_key"]
        assert qatar_b.service_info()["service_key"] == service_key
        qatar_a.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        qatar_b.execute("admit_party", {  # node B has not seen the track yet
            "party": "usa", "kind": "delegation", "principal": USA.name, "principal_key": new_key(USA),
        }, track=TRACK)  # fmt: skip
        qatar_a.execute("admit_party", {  # node A's view is stale: it reloads and decides again
            "party": "iran", "kind": "delegation", "principal": IRAN.name, "principal_key": new_key(IRAN),
        }, track=TRACK)  # fmt: skip
        qatar_b.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
        digest = agenda_digest(AGENDA).hex()
        usa_b.execute("ratify_agenda", {"version": 1, "agenda_digest": digest}, track=TRACK)
        iran_a.execute("ratify_agenda", {"version": 1, "agenda_digest": digest}, track=TRACK)
        submitted = usa_b.execute("submit_message", {
            "kind": "proposal", "body": {"values": {"enrichment_cap_pct": 3.67}}, "priority": "routine",
            "in_reply_to": None, "annexes": [], "agenda_version": 1,
        }, track=TRACK)  # fmt: skip
        message_id = str(submitted["events"][0]["command_digest"])
        forwarded = qatar_a.execute(
            "forward_message", {"message_id": message_id, "to_parties": ["iran"]}, track=TRACK
        )
        size = int(forwarded["first_index"]) + 1
        assert qatar_a.log.checkpoint(TRACK).size == qatar_b.log.checkpoint(TRACK).size == size
    with PostgresEventStore(postgres_url) as store:
        assert store.size(TRACK) == size
        verified = verify_store(store, TRACK)
        assert verified.report.size == size
