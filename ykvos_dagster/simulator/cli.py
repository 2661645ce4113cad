"""Command line entry point that serves a simulated VOS3000 Web API until it is stopped."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading

from ykvos_dagster.simulator.data import MAX_ACCOUNTS, SimulatedSwitch, SimulatorConfig
from ykvos_dagster.simulator.faults import FaultPlan
from ykvos_dagster.simulator.server import SimulatorServer

logger = logging.getLogger(__name__)

_DEFAULTS = SimulatorConfig()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the simulator command."""
    parser = argparse.ArgumentParser(
        prog="ykvos simulator",
        description=(
            "Serve a simulated VOS3000 Web API (customers, CDRs, gateways, phones, rates, "
            "suites and live state) with deterministic data, for demos, tests and benchmarks. "
            "It runs until it receives SIGINT or SIGTERM."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="Address to listen on (default: %(default)s). Must be a loopback address "
        "unless --allow-remote is given.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=18080,
        help="TCP port to listen on, or 0 for any free port (default: %(default)s).",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="Allow a --host that is not a loopback address. The simulator has no access "
        "control, so anyone who can reach the port can read its data.",
    )

    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="Seed of all generated data."
    )
    parser.add_argument(
        "--instance",
        default=_DEFAULTS.instance,
        help="Name of the simulated VOS server. Together with the seed it selects the "
        "accounts and CDRs (default: %(default)s).",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=_DEFAULTS.accounts,
        help=f"Number of accounts, 1 to {MAX_ACCOUNTS} (default: %(default)s).",
    )
    parser.add_argument(
        "--daily-cdrs",
        type=int,
        default=_DEFAULTS.daily_cdrs,
        help="Mean number of CDRs per day over all accounts (default: %(default)s).",
    )
    parser.add_argument(
        "--timezone",
        default=_DEFAULTS.timezone,
        help="Server-local IANA time zone that GetCdr days refer to (default: %(default)s).",
    )
    parser.add_argument(
        "--max-span-days",
        type=int,
        default=_DEFAULTS.max_span_days,
        help="Maximum number of days, inclusive, in one GetCdr request. Wider requests get "
        "retCode -10033 (default: %(default)s).",
    )
    parser.add_argument(
        "--path-prefix",
        default=_DEFAULTS.path_prefix,
        help="URL path under which the interfaces are served (default: %(default)s).",
    )

    parser.add_argument(
        "--faults",
        default="",
        help="Faults to inject, for example 'http_status=503,rate=0.1;latency=0.5,times=1' "
        "(see ykvos_dagster/simulator/faults.py for every kind and option).",
    )
    parser.add_argument(
        "--fault-seed", type=int, default=0, help="Seed of the fault rates (default: 0)."
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Log one line per request at DEBUG level to stderr.",
    )
    return parser


def is_loopback_host(host: str) -> bool:
    """Return True if the host is "localhost" or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Serve the simulator until SIGINT or SIGTERM and return the exit status.

    Invalid options make argparse exit with status 2. A port that cannot be bound returns 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    if not is_loopback_host(args.host) and not args.allow_remote:
        parser.error(
            f"--host {args.host} is not a loopback address; the simulator is a test fixture "
            "without access control, so pass --allow-remote to listen there anyway"
        )
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        config = SimulatorConfig(
            seed=args.seed,
            instance=args.instance,
            accounts=args.accounts,
            daily_cdrs=args.daily_cdrs,
            timezone=args.timezone,
            max_span_days=args.max_span_days,
            path_prefix=args.path_prefix,
        )
        faults = FaultPlan.parse(args.faults, seed=args.fault_seed)
    except ValueError as error:
        parser.error(str(error))

    host = "127.0.0.1" if args.host.lower() == "localhost" else args.host.strip("[]")
    try:
        server = SimulatorServer(SimulatedSwitch(config), host=host, port=args.port, faults=faults)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    if args.allow_remote and not is_loopback_host(host):
        logger.warning(
            "listening on %s, which other hosts may reach; there is no access control", host
        )

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: object) -> None:
        stop_requested.set()

    previous_handlers = {
        signal_number: signal.signal(signal_number, request_stop)
        for signal_number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.start()
        print(
            f"VOS3000 simulator listening on {server.url} (path prefix {config.path_prefix}, "
            f"instance {config.instance}, seed {config.seed}, time zone {config.timezone})",
            flush=True,
        )
        while not stop_requested.wait(timeout=1.0):
            pass
    finally:
        server.stop()
        for signal_number, handler in previous_handlers.items():
            signal.signal(signal_number, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
