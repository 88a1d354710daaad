"""The console's HTML and SVG pieces (ADR-0046): escaping, ages, the cycle's edges, the ladder."""

from datetime import UTC, datetime, timedelta

from backchannel.api.console.model import Graph
from backchannel.api.console.pages import age, countdown, error_page, signin_page
from backchannel.api.console.svg import graph_svg, ladder_svg

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_ages_and_countdowns_read_as_a_person_reads_them() -> None:
    assert ">12 s ago</time>" in age(NOW - timedelta(seconds=12), NOW)
    assert ">3 min ago</time>" in age(NOW - timedelta(minutes=3), NOW)
    assert ">5 h ago</time>" in age(NOW - timedelta(hours=5), NOW)
    assert ">2 d ago</time>" in age(NOW - timedelta(days=2), NOW)
    assert 'data-at="2026-12-06T11:59:48Z"' in age(NOW - timedelta(seconds=12), NOW)
    assert "never" in age(None, NOW)
    assert ">in 4 min</time>" in countdown(NOW + timedelta(minutes=4, seconds=30), NOW)
    assert ">passed 9 s ago</time>" in countdown(NOW - timedelta(seconds=9), NOW)


def test_the_graph_marks_exactly_the_cycles_edges_and_nodes() -> None:
    graph = Graph(
        edges=[
            ("a", "b", "dependency", "needs b's deal"),
            ("b", "a", "booking", "needs a room held by a"),
            ("c", "a", "dependency", "needs a's escrow"),
        ],
        cycle_edges={("a", "b"), ("b", "a")},
        cycles=["a waits on b; b waits on a"],
    )
    svg = graph_svg(graph)
    assert svg.count('class="edge cycle"') == 2
    assert svg.count('class="edge"') == 1
    assert 'class="node deadlocked" data-node="a"' in svg
    assert 'class="node deadlocked" data-node="b"' in svg
    assert 'class="node" data-node="c"' in svg


def test_the_graph_escapes_what_it_is_given() -> None:
    svg = graph_svg(Graph([("<script>", "b&c", "request", '"x"')], set(), []))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "b&amp;c" in svg


def test_an_empty_graph_says_so() -> None:
    assert "the wait-for graph is empty" in graph_svg(Graph([], set(), []))


def test_the_ladder_steps_up_and_down_over_time() -> None:
    obligation = {
        "obligation": "iran-stockpile",
        "ladder": ["none", "tier-1", "tier-2"],
        "defined_at": "2026-12-06T11:00:00Z",
        "history": [
            {"effective_at": "2026-12-06T11:20:00Z", "to_level": 2},
            {"effective_at": "2026-12-06T11:40:00Z", "to_level": 1},
        ],
    }
    svg = ladder_svg(obligation, NOW)
    path = svg.split('class="level" d="')[1].split('"')[0]
    assert path.count("V") == 2  # two steps
    assert path.startswith("M")
    for tier in ("none", "tier-1", "tier-2"):
        assert f">{tier}</text>" in svg


def test_the_sign_in_page_never_asks_for_a_key_and_escapes_problems() -> None:
    page = signin_page()
    assert "never asks for your private key" in page
    assert "<input" not in page
    problem = error_page(401, "Sign-in refused", "token: <b>expired</b>")
    assert "&lt;b&gt;expired&lt;/b&gt;" in problem
    assert 'id="problem"' in problem
