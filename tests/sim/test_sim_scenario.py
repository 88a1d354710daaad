"""Scenario files: the built-ins load, a malformed file names the field and the rule."""

import tomllib
from importlib import resources

import numpy as np
import pytest

from backchannel.errors import ConfigurationError
from backchannel.sim import BUILT_IN, load_scenario
from backchannel.sim.faults import KINDS, draw_faults, fault_from_dict, wire_for
from backchannel.sim.run import deal_terms
from backchannel.sim.scenario import parse_scenario


def _doha() -> dict:
    text = resources.files("backchannel.sim").joinpath("scenarios", "doha-shuttle.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_the_built_ins_load():
    for name in BUILT_IN:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.mediator.kind == "mediator"
    doha = load_scenario("doha-shuttle")
    assert doha.members == (
        "qatar/principal",
        "usa/principal",
        "usa/delegate",
        "iran/principal",
        "iran/delegate",
    )
    assert doha.ack_slo == {"flash": 120.0, "routine": 600.0}
    assert [m["do"] for m in doha.moves].count("relay") == 2


def test_a_scenario_file_loads_from_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(resources.files("backchannel.sim").joinpath("scenarios", "doha-shuttle.toml").read_text())
    assert load_scenario(path).name == "doha-shuttle"
    assert load_scenario(str(path)).track == "doha-shuttle"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["parties"][0].update(kind="delegation"),
            "parties[0].kind: the first party must be the mediator",
        ),
        (lambda d: d["parties"][1].update(kind="spy"), "parties[1].kind: must be one of"),
        (lambda d: d["parties"][1].update(members=[]), "parties[1].members: must be a non-empty array"),
        (lambda d: d["moves"][2].update(by="nobody/x"), "moves[2].by: must be a member of the scenario"),
        (lambda d: d["moves"][0].update(do="dance"), "moves[0].do: must be one of"),
        (lambda d: d["moves"][9].pop("seconds"), "moves[9].seconds: a wait needs a number of seconds"),
        (lambda d: d["faults"].update(random=-1), "faults.random: must be a count >= 0"),
        (
            lambda d: d["moves"].append({"do": "compromise", "by": "usa/principal"}),
            "moves[13].victim: must be a member",
        ),
        (lambda d: d["faults"].update(kinds=["meteor"]), "faults.kinds[0]: must be one of"),
        (lambda d: d["faults"].update(scheduled=[{"kind": "offline", "at": 3}]), "faults.scheduled[0].party"),
        (lambda d: d["faults"].update(scheduled=[{"kind": "crash", "at": -3}]), "faults.scheduled[0].at"),
        (
            lambda d: d["agenda"]["issues"][0].update(type="vector"),
            "agenda.issues[0].type: must be number or choice",
        ),
        (
            lambda d: d["agenda"]["issues"][0].pop("step"),
            "agenda.issues[0].step: required for a number issue",
        ),
        (lambda d: d.pop("track"), "track: must be a non-empty string"),
        (lambda d: d.update(moves={"do": "wait"}), "moves: must be an array of tables"),
    ],
)
def test_a_malformed_scenario_names_the_field(change, message):
    data = _doha()
    change(data)
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)


def test_missing_files_and_bad_toml_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="no file"):
        load_scenario(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ConfigurationError, match="not TOML"):
        load_scenario(bad)


def test_faults_read_from_tables_and_drawn_from_a_generator():
    fault = fault_from_dict({"kind": "skew", "party": "usa/delegate", "seconds": -3}, "f")
    assert fault.describe() == "skew usa/delegate (-3 s)"
    assert fault_from_dict(fault.to_dict(), "f") == fault
    for bad, field in (
        ({"kind": "crash", "party": 3}, "f.party"),
        ({"kind": "delay", "seconds": "x"}, "f.seconds"),
    ):
        with pytest.raises(ConfigurationError, match=field):
            fault_from_dict(bad, "f")
    drawn = draw_faults(
        np.random.default_rng(5), 50, kinds=KINDS, commands=20, parties=["a"], members=["a/p"]
    )
    assert drawn == draw_faults(
        np.random.default_rng(5), 50, kinds=KINDS, commands=20, parties=["a"], members=["a/p"]
    )
    assert {f.kind for f in drawn} == set(KINDS)
    assert all(1 <= f.at <= 20 for f in drawn)
    assert [f.at for f in drawn] == sorted(f.at for f in drawn)


def test_the_wire_of_a_command_gathers_its_faults():
    faults = [
        fault_from_dict({"kind": k, "at": 4, "seconds": 2}, "f")
        for k in KINDS
        if k not in {"offline", "skew"}
    ]
    wire = wire_for(faults, 4)
    assert (wire.drop_request, wire.drop_response, wire.duplicate, wire.store_failure) == (
        True,
        True,
        True,
        True,
    )
    assert (wire.delay, wire.crash) == (2.0, 2.0)
    assert wire_for(faults, 5) == wire_for([], 4)


def test_deal_terms_fill_in_the_nulls_toml_cannot_write():
    terms = deal_terms(
        {"id": "d", "phases": [{"steps": [{"party": "a", "action": "x", "quantity": {"value": 1}}]}]}
    )
    assert terms == {
        "id": "d",
        "title": "d",
        "phases": [[{"party": "a", "action": "x", "issue": None, "quantity": {"value": 1, "unit": None},
                     "conditions": []}]],
    }  # fmt: skip
