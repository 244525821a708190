#!/usr/bin/env python3
"""Remote-control round trip across processes: a REST call on one daphne, the charger on another.

Run on demand (never in CI), on PostgreSQL and Redis:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/csms_bench REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python benchmarks/remote_roundtrip.py --calls 1000 --chargers 1000

It migrates the database, starts two daphne processes (A holds the chargers' sockets, B serves the
REST API), connects ``--chargers`` chargers to A that send Heartbeats every ``--heartbeat`` seconds
(raw OCPP-J frames: the load generator spends little CPU) plus one target charger, then sends
``--calls`` GetConfiguration calls one after another through
``POST /api/v1/stations/BENCH-TARGET/commands/GetConfiguration/`` on B with an admin's JWT.
Prints the round trip p50/p99/max seen by the REST client and the calls lost (anything but 200).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def start_daphne(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    import socket

    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "csms.asgi:application"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne on {port} did not start; see {log}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Heartbeater:
    """A charger in raw OCPP-J: boots, then one Heartbeat every ``interval`` seconds."""

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval = url, interval
        self.sent = self.answered = 0

    async def run(self, stop: asyncio.Event, ready: asyncio.Semaphore) -> None:
        import random

        import websockets

        for attempt in range(5):  # a refused handshake under the connection burst: try again
            try:
                ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], open_timeout=60)
                break
            except (OSError, websockets.exceptions.InvalidMessage, asyncio.TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(1 + attempt)
        async with ws:
            await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "B", "chargePointModel": "H"}]))
            await ws.recv()
            ready.release()
            await asyncio.sleep(random.uniform(0, self.interval))
            n = 0
            while not stop.is_set():
                n += 1
                await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
                self.sent += 1
                await ws.recv()
                self.answered += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)


async def target_charger(url: str, stop: asyncio.Event, booted: asyncio.Event) -> None:
    """Answers GetConfiguration with three keys (and anything else Accepted)."""
    import websockets

    configuration = [{"key": "HeartbeatInterval", "readonly": False, "value": "60"},
                     {"key": "MeterValueSampleInterval", "readonly": False, "value": "30"},
                     {"key": "NumberOfConnectors", "readonly": True, "value": "2"}]
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "B", "chargePointModel": "T"}]))
        while True:
            frame = json.loads(await ws.recv())
            if frame[0] == 3 and frame[1] == "boot":
                booted.set()
            elif frame[0] == 2:
                payload = {"configurationKey": configuration} if frame[2] == "GetConfiguration" else {"status": "Accepted"}
                await ws.send(json.dumps([3, frame[1], payload]))
            if stop.is_set():
                return


def direct_calls(calls: int, results: list[float], lost: list[str]) -> None:
    """``stations.protocol.remote.call()`` from this process: the round trip without HTTP and DRF."""
    from stations.protocol.remote import call

    for _ in range(calls):
        started = time.perf_counter()
        try:
            command = call("BENCH-TARGET", "GetConfiguration", {}, source="bench")
        except Exception as exc:  # noqa: BLE001
            lost.append(repr(exc))
            continue
        results.append((time.perf_counter() - started) * 1000)
        assert command.response


def rest_calls(base: str, token: str, calls: int, results: list[float], lost: list[str]) -> None:
    """The REST client: one kept-alive connection, as an app would hold. It is the standard
    library's ``http.client``: ``requests`` spends about a millisecond of its own per call on
    the project's machine (measured against a daphne serving a fixed reply), which is the
    client's time, not the server's."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = "/api/v1/stations/BENCH-TARGET/commands/GetConfiguration/"
    for _ in range(calls):
        started = time.perf_counter()
        try:
            connection.request("POST", path, body=b"{}", headers=headers)
            response = connection.getresponse()
            body = response.read()
        except Exception as exc:  # noqa: BLE001 (a lost call, whatever the reason)
            lost.append(repr(exc))
            connection.close()
            connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        if response.status == 200 and json.loads(body).get("configurationKey"):
            results.append(elapsed)
        else:
            lost.append(f"{response.status} {body[:200]!r}")


def rest_client_process(base: str, token: str, calls: int) -> tuple[list[float], list[str]]:
    results: list[float] = []
    lost: list[str] = []
    rest_calls(base, token, calls, results, lost)
    return results, lost


async def main_async(args: argparse.Namespace, hosts: tuple[str, str], token: str) -> dict[str, Any]:
    ocpp_url = f"ws://{hosts[0]}/ocpp/"
    stop = asyncio.Event()
    ready = asyncio.Semaphore(0)
    beaters = [Heartbeater(f"{ocpp_url}BENCH-{i:04d}", args.heartbeat) for i in range(args.chargers)]
    tasks = []
    started = time.monotonic()
    for i, beater in enumerate(beaters):
        tasks.append(asyncio.create_task(beater.run(stop, ready)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)  # no boot storm: that is another benchmark
    for _ in beaters:
        await asyncio.wait_for(ready.acquire(), 120)
    print(f"{args.chargers} chargers booted in {time.monotonic() - started:.1f} s", flush=True)
    booted = asyncio.Event()
    target = asyncio.create_task(target_charger(f"{ocpp_url}BENCH-TARGET", stop, booted))
    await asyncio.wait_for(booted.wait(), 30)
    await asyncio.sleep(1)

    results: list[float] = []
    lost: list[str] = []
    base = f"http://{hosts[1]}"
    await asyncio.to_thread(rest_calls, base, token, min(20, args.calls), [], [])  # warm up
    from benchdb import checkpoint

    await asyncio.to_thread(checkpoint, os.environ["DATABASE_URL"])  # see benchdb.checkpoint
    sent_before = sum(b.sent for b in beaters)
    t0 = time.monotonic()
    if args.direct:
        await asyncio.to_thread(direct_calls, args.calls, results, lost)
    else:
        # The REST client runs in a process of its own: sharing this one's GIL with the 1,000
        # chargers' event loop would add its waits to every measured call.
        import concurrent.futures
        import multiprocessing

        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            results, lost = await asyncio.get_running_loop().run_in_executor(
                pool, rest_client_process, base, token, args.calls)
    duration = time.monotonic() - t0
    heartbeats = sum(b.sent for b in beaters) - sent_before
    stop.set()
    target.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, target, return_exceptions=True)
    return {
        "calls": args.calls, "answered": len(results), "lost": len(lost), "lost_examples": lost[:3],
        "p50_ms": round(statistics.median(results), 2) if results else None,
        "p99_ms": round(percentile(results, 0.99), 2) if results else None,
        "max_ms": round(max(results), 2) if results else None,
        "duration_s": round(duration, 1), "heartbeats_during": heartbeats,
        "heartbeats_per_s": round(heartbeats / duration, 1) if duration else None,
        "chargers": args.chargers,
        # The median of each fifth of the calls, in order: drift over the run shows here.
        "p50_by_fifth_ms": [round(statistics.median(part), 1) for part in
                            (results[i * len(results) // 5:(i + 1) * len(results) // 5] for i in range(5)) if part],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between a charger's Heartbeats")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--direct", action="store_true", help="call() from this process instead of REST on B")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: this measures the multi-process setup.")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    os.environ["CSMS_CHANNEL_PREFIX"] = f"bench{uuid.uuid4().hex[:8]}"
    from benchdb import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import Role, User
    from stations.models import Command, RegistrationStatus, Station

    admin, _ = User.objects.get_or_create(email="bench-admin@example.com", defaults={"role": Role.ADMIN})
    token = str(RefreshToken.for_user(admin).access_token)
    ids = ["BENCH-TARGET"] + [f"BENCH-{i:04d}" for i in range(args.chargers)]
    existing = set(Station.objects.filter(charge_point_id__in=ids).values_list("charge_point_id", flat=True))
    Station.objects.bulk_create([Station(charge_point_id=i, registration_status=RegistrationStatus.ACCEPTED,
                                         heartbeat_interval=int(args.heartbeat)) for i in ids if i not in existing])
    Command.objects.filter(station__charge_point_id="BENCH-TARGET").delete()

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    logs = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    ports = (free_port(), free_port())
    procs = [start_daphne(port, env, logs / f"daphne-{port}.log") for port in ports]
    try:
        result = asyncio.run(main_async(args, (f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"), token))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    states = dict(Command.objects.filter(station__charge_point_id="BENCH-TARGET")
                  .values_list("state").annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("id")))
    result["ledger_states"] = states
    result["logs"] = str(logs)
    if args.json:
        print(json.dumps(result))
        return
    print(f"GetConfiguration round trip, REST on daphne B → charger on daphne A ({args.chargers} other chargers "
          f"heartbeating every {args.heartbeat:g} s, {result['heartbeats_per_s']}/s during the run):")
    print(f"  calls {result['calls']}, answered {result['answered']}, lost {result['lost']} {result['lost_examples']}")
    print(f"  p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
          f"{result['duration_s']} s in all")
    print(f"  p50 of each fifth of the calls: {result['p50_by_fifth_ms']} ms")
    print(f"  ledger: {states}; daphne logs in {logs}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
