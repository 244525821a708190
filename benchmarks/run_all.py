#!/usr/bin/env python3
"""Run the OCPP load scenarios against the CSMS and the bare ``ocpp`` server, and print a table.

Starts the servers itself, one scenario at a time (a fresh process each, so memory is measured
from start-up): daphne serving ``csms.asgi:application`` on PostgreSQL and Redis, with everything
persisted, and ``benchmarks/bare_server.py``. The load (``benchmarks/ocpp_load.py``) runs in its
own process. Run on demand, never in CI; it needs PostgreSQL and Redis on 127.0.0.1.

    .venv/bin/python benchmarks/run_all.py                       # every scenario, the issue's sizes
    .venv/bin/python benchmarks/run_all.py --scenarios saturation,fleet --size fleet=1000 --duration 15

The database (default ``postgres://postgres@127.0.0.1:5432/csms_bench``) is created and migrated
when missing; the benchmark's charge points (BENCH-00000…) and id tag are registered first, as
accepted stations, so the boot storm measures known chargers reconnecting.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SIZES = {"boot": 5000, "traffic": 1000, "transactions": 100, "saturation": 100, "fleet": 5000, "idle": 10000}
TAGGED = 500  # chargers with an id tag of their own (transactions, saturation)
ORDER = ("saturation", "fleet", "boot", "idle", "transactions", "traffic")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def csms_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
        "CSMS_CHANNEL_PREFIX": "csmsbench", "CSMS_UNKNOWN_CHARGE_POINTS": "accept",
        "LOG_LEVEL": "WARNING", "DEBUG": "false", "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "csms.settings",
    })
    return env


def prepare_database(args: argparse.Namespace, chargers: int) -> None:
    """Create and migrate the benchmark database; register the charge points and the id tag."""
    from benchdb import ensure_database

    ensure_database(args.database_url)
    env = csms_env(args)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    # One driver and id tag per transacting charger (BT-00000…): one shared tag would make every
    # Authorize a ConcurrentTx and serialise every debit on one user row.
    code = f"""
from decimal import Decimal
from accounts.models import IdTag, User
from billing.services import ledger_credit
from stations.models import Station
for i in range({min(chargers, TAGGED)}):
    email = f"bench{{i}}@example.com"
    user, created = User.objects.get_or_create(email=email, defaults={{"role": "driver"}})
    if user.balance < Decimal("1000000"):
        ledger_credit(user_id=user.pk, amount=Decimal("100000000"), kind="adjustment", reason="benchmark")
    IdTag.objects.get_or_create(id_tag=f"BT-{{i:05d}}", defaults={{"user": user}})
ids = [f"BENCH-{{i:05d}}" for i in range({chargers})]
known = set(Station.objects.filter(charge_point_id__in=ids).values_list("charge_point_id", flat=True))
Station.objects.bulk_create([Station(charge_point_id=i, name=i) for i in ids if i not in known], batch_size=2000)
Station.objects.filter(charge_point_id__startswith="BENCH-").update(connected=False, channel_name="")
# The fleet's chargers report "Charging": every run starts from it (a run with --changing-status
# leaves half of them suspended, and their first status would be a change).
from stations.models import Connector
Connector.objects.filter(station__charge_point_id__startswith="BENCH-").update(status="Charging", error_code="NoError")
# Sessions a cut-short earlier run left open would make the next run's starts ConcurrentTx.
from django.utils import timezone
from transactions.models import Transaction
Transaction.objects.filter(station__charge_point_id__startswith="BENCH-", stopped_at__isnull=True).update(
    stopped_at=timezone.now(), stop_reason="Other")
# Every session notifies its driver, and nobody reads the benchmark drivers' notifications: each
# run would start with more unread ones to count for every push (28 ms a count after twenty runs).
from notifications.models import Notification
Notification.objects.filter(user__email__startswith="bench", read_at__isnull=True).update(read_at=timezone.now())
"""
    subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


def start_server(kind: str, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(ROOT / "benchmarks" / "results" / f"{kind}-{port}.log", "wb")  # noqa: SIM115
    if kind == "uvicorn":  # the project on uvicorn + uvloop + websockets-sansio (the production recommendation)
        cmd = [PY, "-m", "uvicorn", "csms.asgi:application", "--host", "127.0.0.1", "--port", str(port),
               "--loop", "uvloop", "--ws", "websockets-sansio", "--backlog", "4096", "--log-level", "warning",
               "--no-access-log", "--timeout-keep-alive", "5"]
        env = csms_env(args)
    elif kind == "csms":
        endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=4096"
        # A boot storm queues handshakes for longer than daphne's default 5 s; and daphne would
        # close every socket after a day (--websocket_timeout 86400) unless told not to. -v 0: no
        # access log line per connection (the bare server logs nothing either).
        cmd = [PY, "-m", "daphne", "-e", endpoint, "--websocket_connect_timeout", str(args.connect_timeout),
               "--websocket_timeout", "-1", "-v", "0", "csms.asgi:application"]
        env = csms_env(args)
    else:
        cmd = [PY, "benchmarks/bare_server.py", "--port", str(port)]
        env = dict(os.environ)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, proc)
    time.sleep(args.settle)
    return proc, port


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_scenario(kind: str, scenario: str, chargers: int, args: argparse.Namespace) -> dict[str, Any]:
    if kind != "bare":
        from benchdb import checkpoint

        checkpoint(args.database_url)
    load_before = os.getloadavg()[0]
    proc, port = start_server(kind, args)
    try:
        cmd = [PY, str(ROOT / "benchmarks" / "ocpp_load.py"), "--url", f"ws://127.0.0.1:{port}/ocpp/",
               "--scenario", scenario, "--chargers", str(chargers), "--duration", str(args.duration),
               "--label", kind, "--server-pid", str(proc.pid), "--json"]
        if scenario == "idle":
            cmd += ["--duration", str(args.idle_duration)]
        if scenario == "traffic":
            cmd += ["--interval", str(args.traffic_interval)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        row = dict(json.loads(out.stdout.strip().splitlines()[-1]))
        row["load_before"] = load_before
        return row
    finally:
        stop_server(proc)


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'scenario':<13}{'server':<7}{'chargers':>9}{'held':>7}{'refused':>8}{'errors':>7}"
              f"{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'up in s':>9}{'KiB/conn':>10}{'load':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['scenario']:<13}{r['server'][:7]:<7}{r['chargers']:>9}{r['held']:>7}{r['refused']:>8}"
              f"{r['errors']:>7}{fmt(r['rate'], 0):>9}{fmt(r['p50_ms']):>9}{fmt(r['p99_ms']):>9}"
              f"{fmt(r['boot_seconds']):>9}{fmt(r['rss_per_connection_kib']):>10}{fmt(r['load_before']):>6}")
        if r.get("by_action") and r["scenario"] in ("saturation", "fleet"):
            print(f"{'':<20}p50/p99 ms: " + ", ".join(
                f"{action} {f['p50_ms']:.1f}/{f['p99_ms']:.1f}" for action, f in r["by_action"].items()))
        if r["refusal_reasons"]:
            print(f"{'':<20}refused: {r['refusal_reasons']}")
    by = {(r["scenario"], r["server"]): r for r in rows}
    print()
    for server in dict.fromkeys(r["server"] for r in rows if r["server"] != "bare"):
        name = {"csms": "CSMS on daphne", "uvicorn": "CSMS on uvicorn"}.get(server, server)
        if ("saturation", server) in by and ("saturation", "bare") in by:
            ratio = by["saturation", server]["rate"] / max(by["saturation", "bare"]["rate"], 1e-9)
            print(f"saturation: {name} at {ratio:.2f}x the bare server's message rate (goal >= 1.0x)")
        if ("fleet", server) in by:
            print(f"fleet: {name} p99 {fmt(by['fleet', server]['p99_ms'])} ms (goal < 25 ms)")
        if ("boot", server) in by and ("boot", "bare") in by:
            ratio = by["boot", server]["boot_seconds"] / max(by["boot", "bare"]["boot_seconds"], 1e-9)
            print(f"boot storm: {name} took {ratio:.2f}x the bare server's time, {by['boot', server]['refused']} "
                  f"handshakes failed (goal <= 1.5x, none failing)")
        if ("idle", server) in by:
            r = by["idle", server]
            print(f"idle: {name} held {r['held']} of {r['chargers']}, {fmt(r['rss_per_connection_kib'])} KiB per "
                  f"connection (goal <= 40 KiB, none refused)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(ORDER[:4]),
                        help=f"comma-separated, from {', '.join(ORDER)} (default: %(default)s)")
    parser.add_argument("--size", action="append", default=[], help="scenario=chargers, e.g. fleet=1000")
    parser.add_argument("--servers", default="bare,csms,uvicorn",
                        help="bare, csms (the project on daphne), uvicorn (the project on uvicorn); "
                             "default: %(default)s")
    parser.add_argument("--duration", type=float, default=20.0, help="measured window per scenario (s)")
    parser.add_argument("--traffic-interval", type=float, default=1.0,
                        help="traffic: seconds between one charger's calls (default: %(default)s)")
    parser.add_argument("--idle-duration", type=float, default=30.0, help="idle: how long to hold (s)")
    parser.add_argument("--connect-timeout", type=int, default=60,
                        help="daphne's --websocket_connect_timeout (default: %(default)s s)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between server start and load")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                  "postgres://postgres@127.0.0.1:5432/csms_bench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    sizes = dict(SIZES)
    for item in args.size:
        name, _, value = item.partition("=")
        sizes[name] = int(value)
    scenarios = [s for s in args.scenarios.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    if "csms" in servers or "uvicorn" in servers:
        prepare_database(args, max(sizes[s] for s in scenarios))
    rows = []
    for scenario in scenarios:
        for kind in servers:
            print(f"… {scenario} ({sizes[scenario]} chargers) against {kind}", file=sys.stderr, flush=True)
            rows.append(run_scenario(kind, scenario, sizes[scenario], args))
    print()
    print(f"{os.cpu_count()} CPUs; 'load' is the 1-minute load average when the scenario started")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
