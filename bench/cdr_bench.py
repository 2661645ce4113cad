"""Benchmark of the CDR pull: requests per instance-day, decode-and-load throughput, memory and
statistics. Run it with `make bench`; it prints a report and takes about 5 minutes.

The simulator runs in its own process on CPU 1 and serves pre-generated days, so that it is never
the limit. Each pull runs in a fresh process pinned to CPU 0 (`taskset -c 0`) with ClickHouse
limited to one thread (`max_threads = 1`), so its peak RSS (VmHWM) is that of one pull. The naive
baseline is the previous pipeline: parse each reply whole into Python objects with Decimal money,
decode every record into a dict, write JSONEachRow and load it.

Subcommands `simulator`, `pull` and `statistics` are the worker processes of `run`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

DAY = dt.date(2025, 3, 12)  # a Wednesday
PAUSE_SECONDS = 2.0
SCENARIOS = {
    # name: (accounts, mean CDRs per day)
    "day-100k": (1000, 100_000),
    "day-1m": (1000, 1_000_000),
    "day-2m": (1000, 2_000_000),
    "account-500k": (1, 500_000),
}
STATISTICS_ROWS = 30_000_000
STATISTICS_MONTH = dt.date(2025, 1, 1)


def _vm_hwm_megabytes() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- simulator process


def cmd_simulator(args: argparse.Namespace) -> int:
    """Pre-generate every scenario's day on both CPUs, then serve them from CPU 1."""
    from ykvos_dagster.simulator.cdr_cache import PregeneratedCdrs, pregenerate_day
    from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
    from ykvos_dagster.simulator.server import SimulatorServer

    directory = Path(args.directory)
    configs = {
        name: SimulatorConfig(seed=11, instance=name, accounts=accounts, daily_cdrs=daily)
        for name, (accounts, daily) in SCENARIOS.items()
    }
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(pregenerate_day, config, DAY, directory)
            for name, config in configs.items()
        }
        days = {name: future.result() for name, future in futures.items()}
    os.sched_setaffinity(0, {1})

    servers = []
    urls = {}
    for name, config in configs.items():
        switch = SimulatedSwitch(config)
        server = SimulatorServer(switch, pregenerated=PregeneratedCdrs(switch, [days[name]]))
        servers.append(server.start())
        urls[name] = {"url": server.url, "rows": days[name].rows}
    print(json.dumps({"servers": urls, "seconds": time.monotonic() - started}), flush=True)
    sys.stdin.read()  # serve until the parent closes our standard input
    for server in servers:
        server.stop()
    return 0


# ---------------------------------------------------------------- pull process


def _instance(url: str):
    from ykvos_dagster.warehouse.registry import VosInstance

    return VosInstance(
        slug="bench",
        uuid=uuid.uuid4(),
        name="bench",
        base_url=url,
        path_prefix="/external/server",
        timezone="Asia/Shanghai",
        currency="CNY",
        first_day=dt.date(2020, 1, 1),
        enabled=True,
        pause_seconds=0,
        timeout_seconds=600,
    )


@contextmanager
def _one_thread_clickhouse(path: Path):
    from ykvos_dagster.warehouse.clickhouse import open_client

    with open_client(f"chdb://{path}") as client:
        client.command("SET max_threads = 1")
        yield client


def _naive_pull(instance, client, open_clickhouse, options, spool_dir: Path) -> dict:
    """Run the previous pipeline: whole replies as Python objects, a dict per record and a
    JSONEachRow spool."""
    import orjson

    from ykvos_dagster.cdr_pull import plan_requests
    from ykvos_dagster.vos3000 import reports
    from ykvos_dagster.vos3000.cdr import decode_cdr
    from ykvos_dagster.warehouse.cdr_store import load_instance_day, stored_account_counts

    accounts = sorted(client.get_all_accounts())
    with open_clickhouse() as ch:
        stored = stored_account_counts(ch, instance.slug, DAY)
    reported = reports.cdr_counts(client, accounts, DAY) if options.needs_report else None
    fixed = orjson.dumps(
        {
            "instance": instance.slug,
            "instance_uuid": str(instance.uuid),
            "call_day": DAY.isoformat(),
            "loaded_at": f"{time.time():.3f}",
        }
    )[1:-1]
    rows = 0
    spool_path = spool_dir / "naive.jsonl"
    with spool_path.open("wb") as spool:
        for batch in plan_requests(accounts, reported, stored, options):
            for record in client.get_cdrs(batch, DAY):
                row = decode_cdr(record, instance.zone)
                spool.write(orjson.dumps(row)[:-1] + b"," + fixed + b"}\n")
                rows += 1
    with open_clickhouse() as ch:
        result = load_instance_day(
            ch, instance=instance.slug, day=DAY, spool_path=spool_path, expected_rows=rows
        )
    return {"rows": result.rows, "requests": client.requests}


def cmd_pull(args: argparse.Namespace) -> int:
    from ykvos_dagster.cdr_pull import PullOptions, pull_cdr_day
    from ykvos_dagster.vos3000.client import VosClient, VosEndpoint

    instance = _instance(args.url)
    options = PullOptions(skip_idle_accounts=args.planned, batch_accounts=args.planned)
    with tempfile.TemporaryDirectory(prefix="ykvos-bench-pull-") as folder:
        home = Path(folder)
        engine = home / "clickhouse"
        with _one_thread_clickhouse(engine):
            pass  # create the tables before the clock starts

        def open_clickhouse():
            return _one_thread_clickhouse(engine)

        endpoint = VosEndpoint(instance="bench", base_url=args.url, timeout_seconds=600)
        with VosClient(endpoint) as client:
            started = time.perf_counter()
            cpu_started = time.process_time()
            if args.mode == "naive":
                outcome = _naive_pull(instance, client, open_clickhouse, options, home)
            else:
                result = pull_cdr_day(
                    instance=instance,
                    day=DAY,
                    client=client,
                    open_clickhouse=open_clickhouse,
                    spool_dir=home,
                    options=options,
                )
                outcome = {
                    "rows": result.rows,
                    "quarantined": result.quarantined,
                    "requests": result.requests,
                    "cdr_requests": result.cdr_requests,
                    "report_requests": result.report_requests,
                    "accounts_listed": result.accounts_listed,
                    "accounts_skipped": result.accounts_skipped,
                    "reply_megabytes": result.reply_bytes / 1e6,
                    "load_seconds": result.load_seconds,
                }
            outcome["seconds"] = time.perf_counter() - started
            outcome["cpu_seconds"] = time.process_time() - cpu_started
            outcome["request_seconds"] = client.request_seconds
    outcome["vm_hwm_mb"] = _vm_hwm_megabytes()
    print(json.dumps(outcome), flush=True)
    return 0


# ---------------------------------------------------------------- statistics process

_GENERATE_MONTH = """
INSERT INTO cdrs (instance, instance_uuid, call_day, flow_no, account, account_name,
    callee_gateway, start, stop, start_day, hold_time, fee_time, fee, raw, loaded_at)
SELECT
    {instance:String},
    {instance_uuid:UUID},
    {month:Date} + intDiv(number, {per_day:UInt64}),
    number,
    concat('account-', toString(number % 1000)),
    concat('name-', toString(number % 1000)),
    if(number % 17 = 0, '', concat('gateway-', toString(number % 12))),
    toDateTime64({month:Date}, 3, 'UTC') + intDiv(number, {per_day:UInt64}) * 86400
        + (number % 86400),
    toDateTime64({month:Date}, 3, 'UTC') + intDiv(number, {per_day:UInt64}) * 86400
        + (number % 86400) + (number % 300),
    {month:Date} + intDiv(number, {per_day:UInt64}),
    if(number % 2 = 0, toUInt32(number % 300), 0),
    if(number % 2 = 0, toUInt32(60 * intDiv(number % 300 + 59, 60)), 0),
    toDecimal64(if(number % 2 = 0, (number % 300) * 0.001, 0), 6),
    '',
    now64(3)
FROM numbers({rows:UInt64})
"""


def cmd_statistics(args: argparse.Namespace) -> int:
    from ykvos_dagster.warehouse import embedded_postgres
    from ykvos_dagster.warehouse.postgres import connect
    from ykvos_dagster.warehouse.registry import add_instance
    from ykvos_dagster.warehouse.statistics import (
        compute_statistics,
        load_coverage,
        period_window,
        write_statistics,
    )

    outcome = {}
    with tempfile.TemporaryDirectory(prefix="ykvos-bench-statistics-") as folder:
        home = Path(folder)
        dsn = embedded_postgres.start(home / "postgres")
        try:
            with connect(dsn) as connection:
                instance = add_instance(
                    connection,
                    slug="bench-statistics",
                    name="bench",
                    base_url="http://127.0.0.1:9",
                    first_day=STATISTICS_MONTH,
                )
            with _one_thread_clickhouse(home / "clickhouse") as ch:
                ch.command("SET max_threads = 2")  # generating the rows is set-up, not measured
                started = time.perf_counter()
                ch.command(
                    _GENERATE_MONTH,
                    parameters={
                        "instance": instance.slug,
                        "instance_uuid": str(instance.uuid),
                        "month": STATISTICS_MONTH,
                        "per_day": STATISTICS_ROWS // 30,
                        "rows": STATISTICS_ROWS,
                    },
                )
                outcome["generate_seconds"] = time.perf_counter() - started
                ch.command(f"SET max_threads = {args.threads}")
                periods = {
                    "day": period_window("day", STATISTICS_MONTH + dt.timedelta(days=14)),
                    "month": period_window("month", STATISTICS_MONTH),
                }
                computed = {}
                for period, (start, end) in periods.items():
                    started = time.perf_counter()
                    computed[period] = compute_statistics(ch, instance.slug, start, end)
                    outcome[f"{period}_compute_seconds"] = time.perf_counter() - started
                    outcome[f"{period}_rows"] = len(computed[period])
            for period, (start, end) in periods.items():
                started = time.perf_counter()
                with connect(dsn) as connection:
                    coverage = load_coverage(connection, instance, start, end)
                    write_statistics(
                        connection,
                        instance=instance,
                        period_type=period,
                        start=start,
                        end=end,
                        rows=computed[period],
                        coverage=coverage,
                    )
                outcome[f"{period}_write_seconds"] = time.perf_counter() - started
        finally:
            embedded_postgres.stop(home / "postgres")
    print(json.dumps(outcome), flush=True)
    return 0


# ---------------------------------------------------------------- orchestration


def _worker(args: list[str], cpu: int | None) -> dict:
    command = [sys.executable, __file__, *args]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cmd_run(args: argparse.Namespace) -> int:
    print(f"# ykvos CDR pull benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, load average before: {_load_average()}")
    with tempfile.TemporaryDirectory(prefix="ykvos-bench-simulator-") as folder:
        simulator = subprocess.Popen(
            [sys.executable, __file__, "simulator", "--directory", folder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            ready = json.loads(simulator.stdout.readline())
            servers = ready["servers"]
            print(
                f"simulator: pre-generated {sum(s['rows'] for s in servers.values()):,} CDRs "
                f"in {ready['seconds']:.0f} s, serving from CPU 1"
            )
            results = _run_pulls(servers, args)
        finally:
            simulator.stdin.close()
            simulator.wait(timeout=60)

    statistics = _worker(["statistics", "--threads", str(args.statistics_threads)], cpu=None)
    _print_report(results, statistics, args)
    print(f"load average after: {_load_average()}")
    return 0


def _run_pulls(servers: dict, args: argparse.Namespace) -> dict:
    results = {}
    for name, server in servers.items():
        for mode in ("new", "naive"):
            if mode == "naive" and name in args.skip_baseline:
                continue
            results[(name, mode, "planned")] = _worker(
                ["pull", "--url", server["url"], "--mode", mode, "--planned"], cpu=0
            )
            print(f"  {name} {mode}: {results[(name, mode, 'planned')]}", file=sys.stderr)
    results[("day-100k", "new", "per-account")] = _worker(
        ["pull", "--url", servers["day-100k"]["url"], "--mode", "new", "--no-planned"], cpu=0
    )
    return results


def _print_report(results: dict, statistics: dict, args: argparse.Namespace) -> None:
    print("\n## Requests per instance-day (1,000 accounts, pause 2 s between requests)")
    print("wall time = requests x 2 s + measured request time (the runs use pause 0)")
    print(f"{'scenario':<10} {'way':<18} {'requests':>9} {'skipped':>8} {'wall time':>10}")
    for name in ("day-100k", "day-2m"):
        planned = results[(name, "new", "planned")]
        one_each = results.get((name, "new", "per-account"))
        if one_each is None:
            # Not run: one GetAllCustomers plus one GetCdr per account move the same bytes, so the
            # planned run's request time is used as their transfer time.
            one_each = {
                "requests": 1 + planned["accounts_listed"],
                "request_seconds": planned["request_seconds"],
                "estimated": True,
            }
        ways = {}
        for label, run in (("one per account", one_each), ("report + batches", planned)):
            wall = run["requests"] * PAUSE_SECONDS + run["request_seconds"]
            ways[label] = (run["requests"], wall)
            skipped = run.get("accounts_skipped", 0)
            note = " (estimate)" if run.get("estimated") else ""
            print(
                f"{name:<10} {label:<18} {run['requests']:>9,} {skipped:>8} "
                f"{wall / 60:>8.1f} min{note}"
            )
        old_requests, old_wall = ways["one per account"]
        new_requests, new_wall = ways["report + batches"]
        print(
            f"{name:<10} {'ratio':<18} {old_requests / new_requests:>8.1f}x "
            f"{'':>8} {old_wall / new_wall:>9.1f}x"
        )

    print("\n## Decode and load, one core (taskset -c 0, max_threads = 1), pause 0")
    print("rows/s = rows stored / wall time of the whole pull (report, GetCdr, load)")
    print(
        "requests s = time in requests (report and GetCdr), receiving and decoding the replies;"
        " load s = Native spool to cdrs"
    )
    header = (
        f"{'scenario':<13} {'rows':>10} {'MB':>7} {'requests s':>10} {'load s':>7} "
        f"{'new rows/s':>11} {'cpu rows/s':>11} {'RSS MB':>7} {'naive rows/s':>13} "
        f"{'naive RSS':>10} {'ratio':>6}"
    )
    print(header)
    for name in SCENARIOS:
        new = results.get((name, "new", "planned"))
        if new is None:
            continue
        naive = results.get((name, "naive", "planned"))
        rate = new["rows"] / new["seconds"]
        line = (
            f"{name:<13} {new['rows']:>10,} {new['reply_megabytes']:>7.0f} "
            f"{new['request_seconds']:>10.1f} {new['load_seconds']:>7.1f} {rate:>11,.0f} "
            f"{new['rows'] / new['cpu_seconds']:>11,.0f} {new['vm_hwm_mb']:>7.0f}"
        )
        if naive:
            naive_rate = naive["rows"] / naive["seconds"]
            line += f" {naive_rate:>13,.0f} {naive['vm_hwm_mb']:>10.0f} {rate / naive_rate:>5.1f}x"
        else:
            line += f" {'not run':>13}"
        print(line)

    print(
        f"\n## Statistics of {STATISTICS_ROWS:,} CDRs in one month (max_threads = "
        f"{args.statistics_threads})"
    )
    print(f"generated engine-side in {statistics['generate_seconds']:.1f} s")
    for period in ("day", "month"):
        print(
            f"{period:<6} compute {statistics[f'{period}_compute_seconds']:6.2f} s "
            f"({statistics[f'{period}_rows']} rows), write to PostgreSQL "
            f"{statistics[f'{period}_write_seconds']:5.2f} s"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole benchmark and print the report")
    run.add_argument(
        "--skip-baseline",
        nargs="*",
        default=[],
        choices=list(SCENARIOS),
        help="scenarios whose naive baseline is not run (the baseline of day-2m takes about "
        "2 minutes and 7 GB of memory)",
    )
    run.add_argument(
        "--statistics-threads", type=int, default=1, help="max_threads of the statistics queries"
    )
    run.set_defaults(handler=cmd_run)
    simulator = commands.add_parser("simulator")
    simulator.add_argument("--directory", required=True)
    simulator.set_defaults(handler=cmd_simulator)
    pull = commands.add_parser("pull")
    pull.add_argument("--url", required=True)
    pull.add_argument("--mode", choices=["new", "naive"], required=True)
    pull.add_argument("--planned", action=argparse.BooleanOptionalAction, default=True)
    pull.set_defaults(handler=cmd_pull)
    statistics = commands.add_parser("statistics")
    statistics.add_argument("--threads", type=int, default=1)
    statistics.set_defaults(handler=cmd_statistics)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
