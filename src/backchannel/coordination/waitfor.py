"""The wait-for graph across tracks: deadlock detected as it forms, and named by its cycle.

Nodes are opaque strings (``track:us-iran-nuclear``, ``deal:ceasefire/phase-1``,
``person:usa/principal``, ``meeting:doha-3``); an edge ``u -> v`` reads "u waits
on v", with a human reason ("needs the ceasefire deal committed", "booked by
us-iran-nuclear's session").

The graph keeps two parts:

- a **DAG** of the edges that close no cycle, kept in a topological order that
  is repaired incrementally on each insertion (Pearce & Kelly, "A Dynamic
  Topological Sort Algorithm for Directed Acyclic Graphs", ACM JEA 11, 2006):
  an insertion that agrees with the order costs O(1); one that does not
  searches only the nodes whose order lies between its two ends;
- the **deadlocked** edges: an edge whose insertion would close a cycle is kept
  aside with the cycle it closes (a :class:`Cycle`, named node by node).

So the whole graph has a cycle exactly when some edge is deadlocked. Removing
an edge (a hold released, a dependency satisfied, a meeting moved) re-tries
every deadlocked edge whose cycle used it: each either joins the DAG or is
deadlocked again on the cycle it now closes.

This module is pure: no I/O, no clock. It does not decide what the nodes mean
or suggest resolutions (see :mod:`backchannel.coordination.resolve`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from backchannel.errors import NotFoundError

__all__ = ["Cycle", "Wait", "WaitForGraph", "WaitForStatistics", "WaitKind"]


class WaitKind(StrEnum):
    """Why one node waits on another: what a resolution can change."""

    DEPENDENCY = "dependency"  # needs another track's outcome (a deal committed, an escrow released...)
    BOOKING = "booking"  # needs a person, room or channel that another session holds
    REQUEST = "request"  # any other wait (a reply, a signature)


@dataclass(frozen=True, slots=True)
class Wait:
    """One edge: ``waiter`` waits on ``holder`` because of ``reason``.

    ``kind`` says what sort of wait it is and ``priority`` how much the waiter's
    session matters (higher first); resolutions use both.
    """

    waiter: str
    holder: str
    reason: str = ""
    kind: WaitKind = WaitKind.REQUEST
    priority: int = 0

    def describe(self) -> str:
        """``"a waits on b (reason)"``."""
        because = f" ({self.reason})" if self.reason else ""
        return f"{self.waiter} waits on {self.holder}{because}"


@dataclass(frozen=True, slots=True)
class Cycle:
    """A cycle of waits, starting with the edge that closed it; each wait's holder is the next's waiter."""

    waits: tuple[Wait, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes around the cycle, in order, starting with the closing edge's waiter."""
        return tuple(w.waiter for w in self.waits)

    def describe(self) -> str:
        """The cycle in words: ``"a waits on b (…); b waits on c (…); c waits on a (…)"``."""
        return "; ".join(w.describe() for w in self.waits)


@dataclass(frozen=True, slots=True)
class WaitForStatistics:
    """Introspection (trio style): sizes and the work the incremental order has done."""

    nodes: int
    edges: int
    deadlocked_edges: int
    insertions: int
    reorders: int
    nodes_visited: int


@dataclass(slots=True)
class _Counters:
    insertions: int = 0
    reorders: int = 0
    visited: int = 0


@dataclass(slots=True)
class WaitForGraph:
    """A wait-for graph with incremental cycle detection (see the module docstring)."""

    _out: dict[str, dict[str, Wait]] = field(default_factory=dict)
    _in: dict[str, set[str]] = field(default_factory=dict)
    _order: dict[str, int] = field(default_factory=dict)
    _next: int = 0
    _deadlocked: dict[tuple[str, str], Cycle] = field(default_factory=dict)
    _uses: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    _low: int = 0
    _counters: _Counters = field(default_factory=_Counters)

    # --- reading -------------------------------------------------------------------------------
    def __contains__(self, edge: object) -> bool:
        """Whether ``(waiter, holder)`` is an edge (in the DAG or deadlocked)."""
        if not isinstance(edge, tuple) or len(edge) != 2:
            return False
        waiter, holder = edge
        return holder in self._out.get(waiter, {}) or edge in self._deadlocked

    def waits(self) -> Iterator[Wait]:
        """Every edge, the DAG's first, then the deadlocked ones."""
        for holders in self._out.values():
            yield from holders.values()
        for cycle in self._deadlocked.values():
            yield cycle.waits[0]

    def deadlocks(self) -> list[Cycle]:
        """The cycles of the deadlocked edges, each closed by its first wait."""
        return list(self._deadlocked.values())

    def blocked(self, node: str) -> list[Cycle]:
        """The deadlock cycles ``node`` is on."""
        return [c for c in self._deadlocked.values() if node in c.nodes]

    def statistics(self) -> WaitForStatistics:
        """Sizes and work counters."""
        return WaitForStatistics(
            nodes=len(self._order),
            edges=sum(len(h) for h in self._out.values()) + len(self._deadlocked),
            deadlocked_edges=len(self._deadlocked),
            insertions=self._counters.insertions,
            reorders=self._counters.reorders,
            nodes_visited=self._counters.visited,
        )

    # --- writing -------------------------------------------------------------------------------
    def add(
        self,
        waiter: str,
        holder: str,
        reason: str = "",
        *,
        kind: WaitKind = WaitKind.REQUEST,
        priority: int = 0,
    ) -> Cycle | None:
        """Record that ``waiter`` waits on ``holder``; return the cycle it closes, if it closes one.

        Adding an edge that is already there changes nothing and returns its
        cycle if it is deadlocked. A node that waits on itself is a cycle of one.
        """
        if (waiter, holder) in self._deadlocked:
            return self._deadlocked[waiter, holder]
        if holder in self._out.get(waiter, {}):
            return None
        self._counters.insertions += 1
        wait = Wait(waiter, holder, reason, kind, priority)
        cycle = self._insert(wait)
        if cycle is not None:
            self._deadlock(cycle)
        return cycle

    def remove(self, waiter: str, holder: str) -> list[Cycle]:
        """Remove an edge; return the deadlocks that remain or re-formed among those it was part of.

        Raises:
            NotFoundError: there is no such edge.
        """
        if (waiter, holder) in self._deadlocked:
            self._undeadlock((waiter, holder))
            return []
        holders = self._out.get(waiter)
        if holders is None or holder not in holders:
            raise NotFoundError(f"no wait of {waiter!r} on {holder!r}")
        del holders[holder]
        self._in[holder].discard(waiter)
        return self._retry(waiter, holder)

    def discard_node(self, node: str) -> list[Cycle]:
        """Remove a node and every edge at it; return the deadlocks that remain afterwards."""
        for key in [k for k in self._deadlocked if node in k]:
            self._undeadlock(key)
        for holder in list(self._out.get(node, {})):
            self.remove(node, holder)
        for waiter in list(self._in.get(node, ())):
            self.remove(waiter, node)
        self._out.pop(node, None)
        self._in.pop(node, None)
        self._order.pop(node, None)
        return self.deadlocks()

    # --- the incremental order (Pearce & Kelly) ---------------------------------------------
    def _node(self, node: str, *, first: bool) -> int:
        """The node's position; a new one goes first (a waiter) or last (a holder): no repair needed."""
        position = self._order.get(node)
        if position is None:
            if first:
                self._low -= 1
                position = self._low
            else:
                position = self._next
                self._next += 1
            self._order[node] = position
            self._out[node] = {}
            self._in[node] = set()
        return position

    def _insert(self, wait: Wait) -> Cycle | None:
        """Add ``wait`` to the DAG, repairing the order; or return the cycle it would close."""
        upper = self._node(wait.waiter, first=True)
        lower = self._node(wait.holder, first=False)
        if wait.waiter == wait.holder:
            return Cycle((wait,))
        if lower > upper:  # the order already agrees: waiter before holder
            self._link(wait)
            return None
        forward, parent = self._forward(wait.holder, wait.waiter, upper)
        if wait.waiter in parent:
            return self._cycle(wait, parent)
        backward = self._backward(wait.waiter, lower)
        self._reorder(forward, backward)
        self._link(wait)
        return None

    def _link(self, wait: Wait) -> None:
        self._out[wait.waiter][wait.holder] = wait
        self._in[wait.holder].add(wait.waiter)

    def _forward(self, start: str, target: str, upper: int) -> tuple[list[str], dict[str, str]]:
        """Nodes reachable from ``start`` with order <= ``upper``, and a parent map (stops at ``target``)."""
        seen = [start]
        parent: dict[str, str] = {start: start}
        stack = [start]
        while stack:
            node = stack.pop()
            self._counters.visited += 1
            for nxt in self._out[node]:
                if nxt in parent or self._order[nxt] > upper:
                    continue
                parent[nxt] = node
                if nxt == target:
                    return seen, parent
                seen.append(nxt)
                stack.append(nxt)
        return seen, parent

    def _backward(self, start: str, lower: int) -> list[str]:
        """Nodes that reach ``start`` with order >= ``lower``."""
        seen = {start}
        stack = [start]
        while stack:
            node = stack.pop()
            self._counters.visited += 1
            for prev in self._in[node]:
                if prev not in seen and self._order[prev] >= lower:
                    seen.add(prev)
                    stack.append(prev)
        return list(seen)

    def _reorder(self, forward: list[str], backward: list[str]) -> None:
        """Give the backward set the lowest of the pooled positions, keeping each set's own order."""
        self._counters.reorders += 1
        key = self._order.__getitem__
        back = sorted(backward, key=key)
        ahead = sorted(forward, key=key)
        slots = sorted(self._order[n] for n in back + ahead)
        for node, slot in zip(back + ahead, slots, strict=True):
            self._order[node] = slot

    def _cycle(self, closing: Wait, parent: dict[str, str]) -> Cycle:
        """The cycle ``closing`` would make: its holder reaches its waiter along ``parent``."""
        path = [closing.waiter]
        while path[-1] != closing.holder:
            path.append(parent[path[-1]])
        path.reverse()  # holder ... waiter
        waits = [closing]
        waits += [self._out[a][b] for a, b in itertools.pairwise(path)]
        return Cycle(tuple(waits))

    def _deadlock(self, cycle: Cycle) -> None:
        key = (cycle.waits[0].waiter, cycle.waits[0].holder)
        self._deadlocked[key] = cycle
        for wait in cycle.waits[1:]:
            self._uses.setdefault((wait.waiter, wait.holder), set()).add(key)

    def _undeadlock(self, key: tuple[str, str]) -> Wait:
        cycle = self._deadlocked.pop(key)
        for wait in cycle.waits[1:]:
            edge = (wait.waiter, wait.holder)
            users = self._uses[edge]
            users.discard(key)
            if not users:
                del self._uses[edge]
        return cycle.waits[0]

    def _retry(self, waiter: str, holder: str) -> list[Cycle]:
        """Re-insert every deadlocked edge whose cycle used ``waiter -> holder``; return the new cycles."""
        found: list[Cycle] = []
        for key in sorted(self._uses.get((waiter, holder), ())):
            closing = self._undeadlock(key)
            cycle = self._insert(closing)
            if cycle is not None:
                self._deadlock(cycle)
                found.append(cycle)
        return found
