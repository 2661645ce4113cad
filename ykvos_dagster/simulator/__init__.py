"""A simulated VOS3000 softswitch and its Web API, for demos, tests and benchmarks.

``SimulatedSwitch`` generates deterministic accounts, customers and CDRs, and
``SimulatorServer`` serves them over HTTP on 127.0.0.1 the way the VOS3000 JSP layer does.
"""

from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.server import SimulatorServer

__all__ = ["SimulatedSwitch", "SimulatorConfig", "SimulatorServer"]
