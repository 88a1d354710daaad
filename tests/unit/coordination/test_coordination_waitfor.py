"""The wait-for graph: deadlock found as it forms, against a brute-force cycle search."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.coordination import Cycle, WaitForGraph
from backchannel.errors import NotFoundError

NODES = st.sampled_from([f"n{i}" for i in range(7)])
OPS = st.lists(st.tuples(st.booleans(), NODES, NODES), max_size=60)
MANY_NODES = st.sampled_from([f"n{i}" for i in range(14)])
LONG_OPS = st.lists(
    st.tuples(st.sampled_from([True, True, True, False]), MANY_NODES, MANY_NODES), min_size=40, max_size=160
)


def has_cycle(edges: set[tuple[str, str]]) -> bool:
    """Brute force: repeatedly strip nodes with no outgoing edge; a cycle is what remains."""
    remaining = set(edges)
    while True:
        sinks = {b for _, b in remaining} | {a for a, _ in remaining}
        sinks -= {a for a, _ in remaining}
        stripped = {(a, b) for a, b in remaining if b not in sinks}
        if stripped == remaining:
            return bool(remaining)
        remaining = stripped


def is_cycle_in(cycle: Cycle, edges: set[tuple[str, str]]) -> bool:
    waits = cycle.waits
    closed = all(waits[i].holder == waits[(i + 1) % len(waits)].waiter for i in range(len(waits)))
    return closed and all((w.waiter, w.holder) in edges for w in waits)


def order_respects_dag(graph: WaitForGraph) -> bool:
    deadlocked = {(c.waits[0].waiter, c.waits[0].holder) for c in graph.deadlocks()}
    nodes = {n for w in graph.waits() for n in (w.waiter, w.holder)}
    distinct = len({graph.position(n) for n in nodes}) == len(nodes)
    return distinct and all(
        graph.position(w.waiter) < graph.position(w.holder)
        for w in graph.waits()
        if (w.waiter, w.holder) not in deadlocked
    )


@settings(max_examples=300)
@given(OPS)
def test_deadlock_iff_the_graph_has_a_cycle(ops: list[tuple[bool, str, str]]) -> None:
    check_against_brute_force(ops)


@settings(max_examples=100, deadline=None)
@given(LONG_OPS)
def test_deadlock_iff_a_cycle_on_larger_denser_graphs(ops: list[tuple[bool, str, str]]) -> None:
    check_against_brute_force(ops)


@settings(max_examples=100, deadline=None)
@given(LONG_OPS)
def test_the_same_events_give_the_same_graph(ops: list[tuple[bool, str, str]]) -> None:
    """Replaying the events rebuilds the same cycles and the same order (what a log's replay relies on)."""
    first, second = play(ops), play(ops)
    assert first.deadlocks() == second.deadlocks()
    assert list(first.waits()) == list(second.waits())
    nodes = {n for w in first.waits() for n in (w.waiter, w.holder)}
    assert {n: first.position(n) for n in nodes} == {n: second.position(n) for n in nodes}


def play(ops: list[tuple[bool, str, str]]) -> WaitForGraph:
    graph = WaitForGraph()
    for adding, a, b in ops:
        if adding:
            graph.add(a, b)
        elif (a, b) in graph:
            graph.remove(a, b)
    return graph


def check_against_brute_force(ops: list[tuple[bool, str, str]]) -> None:
    graph = WaitForGraph()
    edges: set[tuple[str, str]] = set()
    for adding, a, b in ops:
        if adding:
            cycle = graph.add(a, b, f"{a}>{b}")
            edges.add((a, b))
            if cycle is not None:
                assert is_cycle_in(cycle, edges)
                assert cycle.waits[0].waiter == a
                assert cycle.waits[0].holder == b
        elif (a, b) in edges:
            graph.remove(a, b)
            edges.discard((a, b))
        assert bool(graph.deadlocks()) == has_cycle(edges)
        assert all(is_cycle_in(c, edges) for c in graph.deadlocks())
        assert {(w.waiter, w.holder) for w in graph.waits()} == edges
        assert order_respects_dag(graph)
        assert graph.statistics().edges == len(edges)


def test_a_cycle_is_named_as_it_forms() -> None:
    graph = WaitForGraph()
    assert graph.add("track:us-iran", "deal:ceasefire", "needs the ceasefire deal committed") is None
    assert (
        graph.add("deal:ceasefire", "person:usa/principal", "the ceasefire meeting needs usa/principal")
        is None
    )
    cycle = graph.add("person:usa/principal", "track:us-iran", "held by us-iran's session")
    assert cycle is not None
    assert cycle.nodes == ("person:usa/principal", "track:us-iran", "deal:ceasefire")
    assert cycle.describe() == (
        "person:usa/principal waits on track:us-iran (held by us-iran's session); "
        "track:us-iran waits on deal:ceasefire (needs the ceasefire deal committed); "
        "deal:ceasefire waits on person:usa/principal (the ceasefire meeting needs usa/principal)"
    )
    assert graph.blocked("deal:ceasefire") == [cycle]
    assert graph.add("person:usa/principal", "track:us-iran") is cycle  # already there
    # resolving: the hold is released, so nothing is deadlocked any more
    assert graph.remove("person:usa/principal", "track:us-iran") == []
    assert graph.deadlocks() == []


def test_removing_an_edge_of_a_cycle_retries_the_closing_edge() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    graph.add("b", "c")
    first = graph.add("c", "a")
    assert first is not None
    assert first.nodes == ("c", "a", "b")
    graph.add("a", "d")
    graph.add("d", "c")
    again = graph.remove("b", "c")  # c -> a is retried: it closes c -> a -> d -> c now
    assert [c.nodes for c in again] == [("c", "a", "d")]
    assert graph.deadlocks() == again
    assert graph.remove("d", "c") == []  # retried again: no cycle left, it joins the DAG
    assert graph.deadlocks() == []
    assert ("c", "a") in graph


def test_self_wait_and_unknown_edges() -> None:
    graph = WaitForGraph()
    assert graph.add("a", "a") == Cycle((graph.deadlocks()[0].waits[0],))
    assert ("a", "a") in graph
    assert "a" not in graph
    with pytest.raises(NotFoundError, match="no wait of 'x' on 'y'"):
        graph.remove("x", "y")
    assert graph.add("a", "b") is None
    assert graph.add("a", "b") is None  # idempotent


def test_discarding_a_node_removes_its_waits_and_frees_cycles() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    graph.add("b", "c")
    graph.add("c", "a")
    graph.add("x", "c")
    assert graph.discard_node("b") == []
    assert {(w.waiter, w.holder) for w in graph.waits()} == {("c", "a"), ("x", "c")}
    graph.add("b", "b")
    assert graph.discard_node("b") == []
    assert graph.statistics().nodes == 3


def test_statistics_count_the_work() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    graph.add("b", "c")
    graph.add("c", "d")
    graph.add("d", "e")
    stats = graph.statistics()
    assert (stats.nodes, stats.edges, stats.deadlocked_edges, stats.insertions) == (5, 4, 0, 4)
    assert stats.reorders == 0  # every insertion agreed with the order: no search
    graph.add("y", "a")  # a new waiter goes first, a new holder last: still no search
    graph.add("e", "x")
    assert graph.statistics().reorders == 0
    graph.add("f", "g")
    graph.add("g", "a")  # g was placed after a: the order is repaired
    assert graph.statistics().reorders == 1


def test_two_deadlocks_sharing_an_edge() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    first = graph.add("b", "a")
    graph.add("c", "a")
    second = graph.add("b", "c")
    assert first is not None
    assert second is not None
    assert len(graph.deadlocks()) == 2
    graph.remove("b", "a")  # one deadlock resolved; the other still uses a -> b
    assert graph.deadlocks() == [second]
    assert graph.remove("a", "b") == []
    assert graph.deadlocks() == []


def test_a_crowded_gap_in_the_order_is_relabelled() -> None:
    """Forty nodes moved one after another into the same gap: the labels are spread again, in order."""
    graph = WaitForGraph()
    graph.add("a", "z")
    graph.add("z", "y")
    for i in range(40):
        graph.add(f"d{i:02}", f"w{i:02}")  # a new holder goes last, after y
        graph.add(f"w{i:02}", "z")  # then moves just before z, into the gap the last one halved
    assert graph.deadlocks() == []
    assert order_respects_dag(graph)
    order = sorted((graph.position(n), n) for n in {"a", "z", "y"} | {f"w{i:02}" for i in range(40)})
    assert [n for _, n in order] == ["a", *(f"w{i:02}" for i in range(40)), "z", "y"]
    assert graph.statistics().reorders == 40


def test_unknown_nodes() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    with pytest.raises(NotFoundError, match="no node 'c'"):
        graph.position("c")
    assert graph.discard_node("c") == []
    assert ("a", "c") not in graph
    assert ("a",) not in graph
