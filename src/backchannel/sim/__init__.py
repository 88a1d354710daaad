"""Rehearsal: the real service under a simulated network and virtual clock (issue #11).

One seed gives one run, byte for byte (:func:`run_scenario`); faults are drawn
from the seed or written out in the scenario (:mod:`backchannel.sim.faults`);
every run is checked against the invariants (:mod:`backchannel.sim.invariants`);
a failing schedule is shrunk (:func:`shrink`); :func:`sweep` runs many seeds.
The HTTP app is handed in by the caller (``backchannel.api.create_app``): this
package does not import the API or the CLI.
"""

from backchannel.sim.faults import KINDS, Fault
from backchannel.sim.run import RunResult, run_scenario
from backchannel.sim.scenario import BUILT_IN, Scenario, load_scenario
from backchannel.sim.shrink import InvariantViolation, check_run, shrink
from backchannel.sim.sweep import SweepReport, sweep

__all__ = [
    "BUILT_IN",
    "KINDS",
    "Fault",
    "InvariantViolation",
    "RunResult",
    "Scenario",
    "SweepReport",
    "check_run",
    "load_scenario",
    "run_scenario",
    "shrink",
    "sweep",
]
