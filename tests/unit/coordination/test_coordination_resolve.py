"""Suggested resolutions name the wait they remove, and removing it breaks the deadlock."""

from backchannel.coordination import WaitForGraph, WaitKind
from backchannel.coordination.resolve import Action, suggest


def doha_deadlock() -> WaitForGraph:
    graph = WaitForGraph()
    graph.add(
        "track:us-iran", "deal:ceasefire", "needs the ceasefire deal committed", kind=WaitKind.DEPENDENCY
    )
    graph.add(
        "deal:ceasefire", "person:usa/principal", "the ceasefire meeting needs usa/principal",
        kind=WaitKind.BOOKING, priority=5,
    )  # fmt: skip
    graph.add(
        "person:usa/principal",
        "track:us-iran",
        "held by us-iran's session",
        kind=WaitKind.BOOKING,
        priority=2,
    )
    return graph


def test_every_suggestion_breaks_the_cycle_it_was_made_for() -> None:
    cycle = doha_deadlock().deadlocks()[0]
    suggestions = suggest(cycle)
    assert [s.action for s in suggestions] == [Action.PREEMPT, Action.PHASE, Action.MOVE, Action.MOVE]
    preempt = suggestions[0]
    assert preempt.wait.priority == 2
    assert "preempt the lower-priority hold: track:us-iran gives up" in preempt.text
    assert "split into phases: let track:us-iran proceed" in suggestions[1].text
    for suggestion in suggestions:
        graph = doha_deadlock()
        graph.remove(suggestion.wait.waiter, suggestion.wait.holder)
        assert graph.deadlocks() == []


def test_a_cycle_of_plain_requests_gets_no_suggestion() -> None:
    graph = WaitForGraph()
    graph.add("a", "b")
    cycle = graph.add("b", "a")
    assert cycle is not None
    assert suggest(cycle) == []
