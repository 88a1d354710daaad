"""The wait-for graph across tracks: deadlock detected as it forms, and named by its cycle.

Nodes are opaque strings (``track:us-iran-nuclear``, ``deal:ceasefire/phase-1``,
``person:usa/principal``, ``meeting:doha-3``); an edge ``u -> v`` reads "u waits
on v", with a human reason ("needs the ceasefire deal committed", "booked by
us-iran-nuclear's session").

The graph keeps two parts:

- a **DAG** of the edges that close no cycle, kept in a topological order that
  is repaired incrementally on each insertion (ADR-0026, ADR-0053). An
  insertion ``u -> v`` that agrees with the order costs O(1). One that does not
  searches only the nodes whose position lies between its two ends, as in
  Pearce & Kelly ("A Dynamic Topological Sort Algorithm for Directed Acyclic
  Graphs", ACM JEA 11, 2006), but from **both ends at once**, one node at a
  time each way, as in the two-way searches of Bender, Fineman, Gilbert and
  Tarjan ("A New Approach to Incremental Cycle Detection and Related
  Problems", ACM TALG 12, 2016): breadth first forward from ``v`` and backward
  from ``u``. The two searches meeting is a cycle, found along short paths;
  the first search to run out is the smaller affected side, and only that side
  moves (the forward side to just after ``u``, or the backward side to just
  before ``v``), the other nodes of the window keeping their relative order. So
  an insertion costs about twice the smaller side's edges, plus one pass over
  the window's positions (list slices, at C speed), instead of both sides and a
  sort. Nodes are small integers, positions an array;
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


_NONE = -1  # no node: the end of the order's list
_GAP = 1 << 32  # between the labels of a node put first or last and its neighbour
_ROOM = 64  # the least gap a relabelling leaves between two labels


@dataclass(slots=True)
class WaitForGraph:
    """A wait-for graph with incremental cycle detection (see the module docstring)."""

    _ids: dict[str, int] = field(default_factory=dict)  # node -> its number
    _names: list[str] = field(default_factory=list)
    _out: list[dict[int, Wait]] = field(default_factory=list)  # the DAG's edges, by waiter and holder
    _in: list[dict[int, None]] = field(default_factory=list)  # ordered sets: replays are deterministic
    _pos: list[int] = field(default_factory=list)  # number -> label, increasing along the order
    _next: list[int] = field(default_factory=list)  # the order as a doubly linked list
    _prev: list[int] = field(default_factory=list)
    _head: int = _NONE
    _tail: int = _NONE
    _edges: int = 0
    _deadlocked: dict[tuple[str, str], Cycle] = field(default_factory=dict)
    _uses: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    _counters: _Counters = field(default_factory=_Counters)

    # --- reading -------------------------------------------------------------------------------
    def __contains__(self, edge: object) -> bool:
        """Whether ``(waiter, holder)`` is an edge (in the DAG or deadlocked)."""
        if not isinstance(edge, tuple) or len(edge) != 2:
            return False
        if edge in self._deadlocked:
            return True
        waiter, holder = self._ids.get(edge[0]), self._ids.get(edge[1])
        return waiter is not None and holder is not None and holder in self._out[waiter]

    def waits(self) -> Iterator[Wait]:
        """Every edge, the DAG's first (by waiter, in the order nodes appeared), then the deadlocked ones."""
        for holders in self._out:
            yield from holders.values()
        for cycle in self._deadlocked.values():
            yield cycle.waits[0]

    def deadlocks(self) -> list[Cycle]:
        """The cycles of the deadlocked edges, each closed by its first wait."""
        return list(self._deadlocked.values())

    def blocked(self, node: str) -> list[Cycle]:
        """The deadlock cycles ``node`` is on."""
        return [c for c in self._deadlocked.values() if node in c.nodes]

    def position(self, node: str) -> int:
        """The node's place in the DAG's topological order (a waiter's is lower than its holders').

        Raises:
            NotFoundError: no such node.
        """
        number = self._ids.get(node)
        if number is None:
            raise NotFoundError(f"no node {node!r}")
        return self._pos[number]

    def statistics(self) -> WaitForStatistics:
        """Sizes and work counters."""
        return WaitForStatistics(
            nodes=len(self._ids),
            edges=self._edges + len(self._deadlocked),
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
        if (waiter, holder) in self:
            return self._deadlocked.get((waiter, holder))
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
        if (waiter, holder) not in self:
            raise NotFoundError(f"no wait of {waiter!r} on {holder!r}")
        u, v = self._ids[waiter], self._ids[holder]
        del self._out[u][v]
        del self._in[v][u]
        self._edges -= 1
        return self._retry(waiter, holder)

    def discard_node(self, node: str) -> list[Cycle]:
        """Remove a node and every edge at it; return the deadlocks that remain afterwards."""
        for key in [k for k in self._deadlocked if node in k]:
            self._undeadlock(key)
        number = self._ids.get(node)
        if number is not None:
            for holder in list(self._out[number]):
                self.remove(node, self._names[holder])
            for waiter in list(self._in[number]):
                self.remove(self._names[waiter], node)
            del self._ids[node]
            self._unlink(number)
        return self.deadlocks()

    # --- the incremental order -------------------------------------------------------------------
    def _node(self, node: str, *, first: bool) -> int:
        """The node's number; a new one goes first (a waiter) or last (a holder): no repair needed."""
        number = self._ids.get(node)
        if number is None:
            number = self._ids[node] = len(self._names)
            self._names.append(node)
            self._out.append({})
            self._in.append({})
            self._pos.append(0)
            self._next.append(_NONE)
            self._prev.append(_NONE)
            self._place(_NONE if first else self._tail, [number])
        return number

    def _insert(self, wait: Wait) -> Cycle | None:
        """Add ``wait`` to the DAG, repairing the order; or return the cycle it would close."""
        u = self._node(wait.waiter, first=True)
        v = self._node(wait.holder, first=False)
        if u == v:
            return Cycle((wait,))
        pu, pv = self._pos[u], self._pos[v]
        if pv < pu:  # the order disagrees: search the window [pv, pu] from both ends
            met = self._search(u, v, pv, pu)
            if met is not None:
                return self._cycle(wait, *met)
        self._out[u][v] = wait
        self._in[v][u] = None
        self._edges += 1
        return None

    def _search(self, u: int, v: int, pv: int, pu: int) -> tuple[int, dict[int, int], dict[int, int]] | None:
        """Search forward from ``v`` and backward from ``u`` in turn, inside the window.

        Returns:
            Where the searches met, with the parents of each (a path ``v ->* meet ->* u``:
            the new edge would close a cycle); or None once one search has run out,
            after moving what it found so that the order agrees with ``u -> v``.
        """
        pos, out, into = self._pos, self._out, self._in
        ahead: dict[int, int] = {v: v}  # reached from v, each with its parent
        behind: dict[int, int] = {u: u}  # reaching u, each with its child
        forward, backward = [v], [u]
        f = b = 0
        while True:
            if f == len(forward):
                self._counters.visited += f + b
                self._move(u, ahead, after=True)
                return None
            node = forward[f]
            f += 1
            for nxt in out[node]:
                if nxt not in ahead and pos[nxt] <= pu:
                    ahead[nxt] = node
                    if nxt in behind:
                        self._counters.visited += f + b
                        return nxt, ahead, behind
                    forward.append(nxt)
            if b == len(backward):
                self._counters.visited += f + b
                self._move(v, behind, after=False)
                return None
            node = backward[b]
            b += 1
            for prev in into[node]:
                if prev not in behind and pos[prev] >= pv:
                    behind[prev] = node
                    if prev in ahead:
                        self._counters.visited += f + b
                        return prev, ahead, behind
                    backward.append(prev)

    def _move(self, anchor: int, moving: dict[int, int], *, after: bool) -> None:
        """Move ``moving`` just after ``anchor`` (``after``) or just before it, keeping their order.

        Only the moved nodes get new labels (and, when there is no room between
        two labels, the few nodes after them).
        """
        self._counters.reorders += 1
        nodes = sorted(moving, key=self._pos.__getitem__)
        for node in nodes:
            self._unlink(node)
        self._place(anchor if after else self._prev[anchor], nodes)

    def _unlink(self, node: int) -> None:
        before, after = self._prev[node], self._next[node]
        if before == _NONE:
            self._head = after
        else:
            self._next[before] = after
        if after == _NONE:
            self._tail = before
        else:
            self._prev[after] = before

    def _place(self, anchor: int, nodes: list[int]) -> None:
        """Link ``nodes``, in order, just after ``anchor`` (first if ``_NONE``), and label them.

        Labels go into the gap after ``anchor``; when it is too narrow, the
        nodes after it are relabelled too, as few as leave ``_ROOM`` between
        every two labels (an order-maintenance list, Dietz & Sleator 1987).
        """
        pos, nxt, prev = self._pos, self._next, self._prev
        follow = self._head if anchor == _NONE else nxt[anchor]
        for a, b in itertools.pairwise([anchor, *nodes, follow]):
            if a == _NONE:
                self._head = b
            else:
                nxt[a] = b
            if b == _NONE:
                self._tail = a
            else:
                prev[b] = a
        if anchor == _NONE:  # first: count down from the old first's label
            top = pos[follow] if follow != _NONE else 0
            for i, node in enumerate(reversed(nodes), 1):
                pos[node] = top - i * _GAP
            return
        base, spread, cursor = pos[anchor], list(nodes), follow
        while cursor != _NONE and pos[cursor] - base < (len(spread) + 1) * _ROOM:
            spread.append(cursor)
            cursor = nxt[cursor]
        step = _GAP if cursor == _NONE else (pos[cursor] - base) // (len(spread) + 1)
        for i, node in enumerate(spread, 1):
            pos[node] = base + i * step

    def _cycle(self, closing: Wait, meet: int, ahead: dict[int, int], behind: dict[int, int]) -> Cycle:
        """The cycle ``closing`` would close: from its holder to ``meet`` (``ahead``), then to its waiter."""
        path = [meet]
        while ahead[path[-1]] != path[-1]:
            path.append(ahead[path[-1]])
        path.reverse()  # v ... meet
        while behind[path[-1]] != path[-1]:
            path.append(behind[path[-1]])  # ... u
        out = self._out
        return Cycle((closing, *(out[a][b] for a, b in itertools.pairwise(path))))

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
