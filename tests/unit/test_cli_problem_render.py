"""The CLI's rendering of a refused command names each field once."""

from rich.console import Console

from backchannel.cli import render
from backchannel.sdk import ProblemError


def rendered(problem: dict[str, object]) -> str:
    console = Console(width=200, record=True)
    console.print(render.diagnostic(ProblemError(422, problem)))
    return console.export_text()


def test_a_message_that_names_its_field_is_not_prefixed_twice() -> None:
    text = rendered({
        "title": "Payload violates its schema",
        "violations": [
            {"field": "phases.0.1.quantity.value", "rule": "one_of", "message": "phases.0.1.quantity.value: 1 is not one of none, partial"},
            {"field": "enrichment_cap_pct", "rule": "maximum", "message": "120 % is above the maximum 90"},
        ],
    })  # fmt: skip
    assert "- phases.0.1.quantity.value: 1 is not one of none, partial (one_of)" in text
    assert text.count("phases.0.1.quantity.value:") == 1
    assert "- enrichment_cap_pct: 120 % is above the maximum 90 (maximum)" in text
