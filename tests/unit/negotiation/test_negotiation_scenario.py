"""The shared scenario format: the real file loads, and every malformed variant is refused naming its path."""

import json
import math

import pytest
from negotiation_helpers import SCENARIO_FILE

from backchannel.errors import ConfigurationError, EncodingError
from backchannel.negotiation.scenario import load_scenario, parse_scenario


def test_the_shared_file_loads():
    scenario = load_scenario(SCENARIO_FILE)
    assert scenario.space.n_outcomes == 1000
    assert scenario.space.names == ("i0", "i1", "i2")
    assert len(scenario.profiles) == scenario.n_profiles == 50
    assert scenario.n_rounds == 100
    assert scenario.agents["A"].exponent == 4.0
    assert scenario.agents["B"].exponent == 0.25
    assert scenario.tolerance == 1e-4
    assert scenario.mediated_variant is not None
    # utility_model.range: each party's utility spans exactly 0..1 over the outcome space
    for p in range(scenario.n_profiles):
        u = scenario.utilities(p)
        assert u.shape == (1000, 2)
        assert u.min(axis=0) == pytest.approx([0, 0], abs=1e-6)
        assert u.max(axis=0) == pytest.approx([1, 1], abs=1e-6)


def _set(document, path, value):
    *parents, last = path
    target = document
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value


CORRUPTIONS = [
    (
        ("profiles", 3, "A", "weights"),
        [0.5, 0.2, 0.1],
        r"profiles\[3\]\.A\.weights: must sum to 1 \(got 0\.8\)",
    ),
    (("profiles", 0, "A", "weights", 1), -0.1, r"profiles\[0\]\.A\.weights\[1\]: must be in"),
    (("profiles", 0, "B", "reserved_value"), KeyError, r"profiles\[0\]\.B\.reserved_value: missing"),
    (
        ("profiles", 0, "B", "reserved_value"),
        math.nan,
        r"profiles\[0\]\.B\.reserved_value: expected a finite number",
    ),
    (
        ("profiles", 0, "B", "reserved_value"),
        True,
        r"profiles\[0\]\.B\.reserved_value: expected a finite number",
    ),
    (("profiles", 2, "A", "values", 1), [0.0] * 9, r"profiles\[2\]\.A\.values\[1\]: expected 10 numbers"),
    (
        ("profiles", 0, "A", "values", 0, 3),
        "x",
        r"profiles\[0\]\.A\.values\[0\]\[3\]: expected a finite number",
    ),
    (
        ("profiles", 0, "A", "values"),
        [[0.0] * 10],
        r"profiles\[0\]\.A\.values: expected one value table per issue",
    ),
    (("profiles", 0, "A", "weights"), [1.0], r"profiles\[0\]\.A\.weights: expected a list of 3 numbers"),
    (("profiles", 0, "A", "colour"), "red", r"profiles\[0\]\.A\.colour: unknown field"),
    (("profiles", 1, "id"), 7, r"profiles\[1\]\.id: must equal its position 1"),
    (("profiles", 1), [], r"profiles\[1\]: expected an object"),
    (("profiles", 0, "derived", "nash_outcome"), [11, 0, 0], r"profiles\[0\]\.derived\.nash_outcome"),
    (
        ("profiles", 0, "derived", "nash_outcome"),
        "5,1,1",
        r"profiles\[0\]\.derived\.nash_outcome: expected a list",
    ),
    (("profiles",), [], r"profiles: expected a non-empty list"),
    (
        ("agents", "A", "aspiration", "type"),
        "tit-for-tat",
        r"agents\.A\.aspiration\.type: unknown agent type 'tit-for-tat'",
    ),
    (("agents", "B", "aspiration", "exponent"), -1.0, r"agents\.B\.aspiration\.exponent: must be in"),
    (("agents", "B", "aspiration", "exponent"), 0, r"agents\.B\.aspiration\.exponent: must be > 0"),
    (
        ("agents", "B", "aspiration", "max_aspiration"),
        1.5,
        r"agents\.B\.aspiration\.max_aspiration: must be in",
    ),
    (("agents", "B", "label"), 3, r"agents\.B\.label: expected a string"),
    (("agents", "C"), {}, r"agents\.C: unknown field"),
    (("agents", "common_rules", "tolerance"), -1, r"agents\.common_rules\.tolerance: must be in"),
    (("agents", "A"), KeyError, r"agents\.A: missing"),
    (("protocol", "type"), "AO", r"protocol\.type: only 'SAO'"),
    (("protocol", "n_rounds"), 0, r"protocol\.n_rounds: expected an integer >= 1"),
    (("protocol", "time_limit_seconds"), 60, r"protocol\.time_limit_seconds: .* must be null"),
    (("utility_model", "type"), "nonlinear", r"utility_model\.type: only 'linear_additive'"),
    (("schema",), "backchannel-bench-scenario/2", r"schema: expected 'backchannel-bench-scenario/1'"),
    (("schedule", "n_profiles"), 49, r"schedule\.n_profiles: says 49, profiles holds 50"),
    (
        ("outcome_space", "issues"),
        [],
        r"outcome_space\.issues: expected a non-empty list of issues \(no outcomes\)",
    ),
    (
        ("outcome_space", "issues", 1, "values"),
        [],
        r"outcome_space\.issues\[1\]\.values: expected a non-empty list \(no outcomes\)",
    ),
    (
        ("outcome_space", "issues", 1, "values", 2),
        None,
        r"outcome_space\.issues\[1\]\.values\[2\]: expected a finite number",
    ),
    (("outcome_space", "issues", 1, "values", 2), 1, r"issues\[1\]\.values: issue 'i1' lists a value twice"),
    (("outcome_space", "issues", 1, "name"), "i0", r"issues\[1\]\.name: duplicate issue name 'i0'"),
    (
        ("outcome_space", "issues", 1, "name"),
        "",
        r"outcome_space\.issues\[1\]\.name: expected a non-empty string",
    ),
    (("outcome_space", "issues", 1), "i1", r"outcome_space\.issues\[1\]: expected an object"),
    (("outcome_space", "n_outcomes"), 999, r"outcome_space\.n_outcomes: says 999, the issues give 1000"),
    (("outcome_space", "type"), "continuous", r"outcome_space\.type: only 'cartesian'"),
    (("outcome_space",), [], r"outcome_space: expected an object"),
    (("flavour",), "x", r"flavour: unknown field"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), CORRUPTIONS, ids=[".".join(map(str, c[0])) for c in CORRUPTIONS]
)
def test_malformed_documents_name_the_path(document, path, value, message):
    _set(document, path, value)
    with pytest.raises(ConfigurationError, match=message):
        parse_scenario(document)


def test_not_an_object_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigurationError, match=r"\$: expected an object"):
        parse_scenario([])
    with pytest.raises(ConfigurationError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": ', encoding="utf-8")
    with pytest.raises(EncodingError, match="not JSON"):
        load_scenario(broken)


def test_optional_sections(document):
    for key in ("schedule", "utility_model", "mediated_variant", "name"):
        del document[key]
    del document["profiles"][0]["derived"]
    document["profiles"][1]["derived"]["nash_outcome"] = None
    scenario = parse_scenario(json.loads(json.dumps(document)))
    assert scenario.n_profiles == 50
    assert scenario.name == "unnamed"
    assert scenario.profiles[0].nash_outcome is None
    assert scenario.mediated_variant is None
