"""The simulator's app runs inline (no thread pool, no committer thread); a live app keeps its threads."""

import hashlib
import threading

import numpy as np

from backchannel.api import create_app
from backchannel.sdk import BackchannelClient
from backchannel.service.committer import GroupCommitter
from backchannel.service.sync_committer import SyncCommitter
from backchannel.sim.clock import SkewedClock, VirtualClock, entropy
from backchannel.sim.network import Network, SimTransport
from backchannel.sim.node import ORIGIN, SimNode, seeded_key
from backchannel.testing.world import opening


def test_a_simulated_node_commits_in_the_callers_thread_and_starts_no_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    clock = VirtualClock()
    rng = np.random.default_rng(5)
    node = SimNode(create_app, clock=clock, salts=entropy(rng), key_seed=hashlib.sha256(b"inline").digest())
    try:
        committer = node.app.state.ctx.committer
        assert isinstance(committer, SyncCommitter)
        net = Network(node)
        keys = {
            m: seeded_key(m, hashlib.sha256(m.encode()).digest())
            for m in ("qatar/principal", "usa/principal")
        }
        clients = {
            m: BackchannelClient(ORIGIN, m, k, transport=SimTransport(net, m), clock=SkewedClock(clock),
                                 entropy=entropy(rng), pinned_log_key=node.log_key)
            for m, k in keys.items()
        }  # fmt: skip
        steps = opening(keys["qatar/principal"], node.keys, [keys["usa/principal"]])
        for signer, command, body in steps:
            clients[signer.name].execute(command, body, track="inline")
        assert committer.statistics().commands_written == len(steps)
        assert committer.statistics().groups_failed == 0
        assert {t.ident for t in threading.enumerate()} <= before
        node.crash()
        node.restart()
        assert isinstance(node.app.state.ctx.committer, SyncCommitter)
        for client in clients.values():
            client.close()
    finally:
        node.close()


def test_an_app_built_without_inline_keeps_the_group_committer() -> None:
    node = SimNode(
        create_app, clock=VirtualClock(), salts=entropy(np.random.default_rng(1)), key_seed=bytes(32)
    )
    try:
        assert node.tracks is not None
        live = create_app(node.tracks, public_origin="http://127.0.0.1:1", tick_interval=None)
        assert isinstance(live.state.ctx.committer, GroupCommitter)
    finally:
        node.close()
