"""The simulated network: an httpx transport from each client into the service's ASGI app.

:class:`SimTransport` is a synchronous ``httpx.BaseTransport`` (what the SDK's
``httpx.Client`` takes). Each request is run to completion on the node's private
event loop (``httpx.ASGITransport`` into the app), so the whole run stays in one
thread of control and in one order. Before and after the app sees a request,
the :class:`Network` applies the faults due for it: the request dropped, the
response dropped (the app ran; the client sees a transport error), the request
delivered twice, delayed (virtual time passes before it arrives) or held and
delivered after later commands (reordered); a party or member offline or the
service down is a refused connection.

This module does not choose faults (:mod:`backchannel.sim.faults` does) and
does not retry (the SDK does, with the same signed command).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from backchannel.sim.node import SimNode

__all__ = ["Network", "SimTransport", "Wire"]


@dataclass
class Wire:
    """What the network does to one request: the hooks the fault schedule arms.

    Attributes:
        drop_request: The request never reaches the service.
        drop_response: The service runs it; its answer is lost.
        duplicate: The service receives it twice (the client sees the first answer).
        delay: Virtual seconds that pass before it arrives.
        crash: The service runs it, then crashes before answering; it restarts
            after this many virtual seconds.
        store_failure: The service's store fails the append it makes for it.
    """

    drop_request: bool = False
    drop_response: bool = False
    duplicate: bool = False
    delay: float = 0.0
    crash: float | None = None
    store_failure: bool = False
    reorder: bool = False


_OVERTAKEN_BY = 2
"""A reordered request arrives after this many later command requests."""


@dataclass
class Network:
    """The run's network: the node, who is reachable, and the per-request fault hook.

    Attributes:
        node: The simulated service node.
        plan: Called with ``(member, method, path, command_number)`` before a request is
            sent; returns what to do to it (``command_number`` counts command POSTs).
        offline: Parties that cannot reach the service now.
        commands: How many command POSTs have been sent so far.
        requests: How many requests reached the service.
        duplicates: The statuses the service answered duplicated requests with.
        restart_at: When (virtual seconds since the epoch of the run) a crashed service restarts.
    """

    node: SimNode
    plan: Callable[[str, str, str, int], Wire] = lambda *_: Wire()
    offline: set[str] = field(default_factory=set)
    commands: int = 0
    requests: int = 0
    duplicates: list[int] = field(default_factory=list)
    restart_at: float | None = None
    held: list[tuple[httpx.Request, int]] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    struck: list[tuple[float, str]] = field(default_factory=list)

    def record(self, wire: Wire, number: int, member: str) -> None:
        """Note, for the timeline, each fault that strikes command ``number``."""
        now = self.node.clock.elapsed()
        for flag in ("drop_request", "drop_response", "duplicate", "reorder", "store_failure"):
            if getattr(wire, flag):
                self.struck.append((now, f"{flag} of command {number} ({member})"))
        if wire.crash is not None:
            self.struck.append((now, f"crash at command {number}, restart after {wire.crash:g} s"))

    def release_held(self, *, all_of_them: bool = False) -> None:
        """Deliver the held (reordered) requests whose turn has come; their answers go nowhere."""
        keep = []
        for request, left in self.held:
            if not all_of_them and left > 1:
                keep.append((request, left - 1))
                continue
            try:
                self.late.append(self.deliver(request).status_code)
            except httpx.TransportError:
                self.late.append(0)  # the service is down: lost for good, as a network may lose it
        self.held = keep

    def deliver(self, request: httpx.Request) -> httpx.Response:
        """Run ``request`` through the current app; raise ``ConnectError`` if the service is down."""
        if not self.node.up and self.restart_at is not None and self.node.clock.elapsed() >= self.restart_at:
            self.node.restart()
            self.restart_at = None
        if not self.node.up:
            raise httpx.ConnectError("simulated: the service is down", request=request)
        self.requests += 1
        response, _ = self.node.pump.call(self.node.app, request)
        return response


class SimTransport(httpx.BaseTransport):
    """One member's connection to the simulated service.

    Args:
        network: The run's network.
        member: The member id (``party/name``) whose requests these are.
    """

    def __init__(self, network: Network, member: str) -> None:
        """Create the transport."""
        self._network = network
        self._member = member
        self._party = member.split("/", maxsplit=1)[0]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the simulated network, applying its faults."""
        net = self._network
        if self._party in net.offline or self._member in net.offline:
            raise httpx.ConnectError(f"simulated: {self._member} is offline", request=request)
        number = 0
        if request.method == "POST" and request.url.path.endswith("/commands"):
            net.commands += 1
            number = net.commands
        wire = net.plan(self._member, request.method, request.url.path, number)
        net.record(wire, number, self._member)
        if wire.drop_request:
            raise httpx.ConnectError("simulated: the request was dropped", request=request)
        if wire.reorder:
            net.held.append((request, _OVERTAKEN_BY))
            raise httpx.ReadTimeout("simulated: the request is held in the network", request=request)
        net.node.clock.advance(wire.delay)
        if wire.store_failure:
            net.node.arm_store_failure()
        response = net.deliver(request)
        if number and net.held:
            net.release_held()
        if wire.crash is not None:
            net.node.crash()
            net.restart_at = net.node.clock.elapsed() + wire.crash
            raise httpx.ReadError("simulated: the service crashed before answering", request=request)
        if wire.duplicate:
            net.duplicates.append(net.deliver(request).status_code)  # its answer goes nowhere
        if wire.drop_response:
            raise httpx.ReadError("simulated: the response was dropped", request=request)
        return response
