#!/usr/bin/env python3
"""OCPP 1.6J load against a running server: N simulated chargers over ``websockets``.

Run on demand, never in CI. The chargers speak raw OCPP-J frames (no ``ocpp`` library on this
side, so the client spends as little of the shared CPU as possible) and answer whatever the
server asks them. Scenarios:

  boot          boot storm: N chargers connect and send BootNotification all at once
  traffic       heartbeat/status/meter traffic: each charger one call every --interval seconds
  transactions  transaction cycles: Authorize, StartTransaction, MeterValues x3, StopTransaction
  saturation    N chargers (100) sending mixed traffic with no pause
  fleet         N chargers (5,000) each sending one call every --interval (5) seconds
                (--changing-status: each StatusNotification a change, not a repeat)
  idle          N chargers (10,000) connected, heartbeating every --heartbeat (60) seconds;
                with --server-pid, the server's RSS growth per connection (/proc/<pid>/status)

Prints connections held, refused, messages per second and latency p50/p99 (``--json`` for the
runner, benchmarks/run_all.py). Example:

    python benchmarks/ocpp_load.py --url ws://127.0.0.1:8000/ocpp/ --scenario saturation --chargers 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import itertools
import json
import random
import resource
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import websockets

SCENARIOS = ("boot", "traffic", "transactions", "saturation", "fleet", "idle")
DEFAULT_CHARGERS = {"boot": 5000, "traffic": 1000, "transactions": 100, "saturation": 100, "fleet": 5000,
                    "idle": 10000}


def raise_open_files_limit() -> int:
    """Each charger is a socket: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def meter_payload(connector_id: int, energy_wh: int, transaction_id: int | None) -> dict[str, Any]:
    values = [
        {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
         "context": "Sample.Periodic", "location": "Outlet"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N", "context": "Sample.Periodic"},
        {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": "Sample.Periodic"},
        {"value": "54", "measurand": "SoC", "unit": "Percent", "location": "EV", "context": "Sample.Periodic"},
    ]
    payload: dict[str, Any] = {"connectorId": connector_id, "meterValue": [{"timestamp": now(), "sampledValue": values}]}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


# What a charger answers to the server's own calls (the CSMS may configure a charger after boot).
REPLIES: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "ChangeConfiguration": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetLocalListVersion": {"listVersion": 0},
    "DataTransfer": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
}


@dataclass
class Stats:
    scenario: str = ""
    server: str = ""
    chargers: int = 0
    held: int = 0  # connections open at the end
    refused: int = 0  # handshakes that failed (any answer but 101, or a timeout)
    dropped: int = 0  # connections that closed under load
    messages: int = 0  # CALLs answered (CALLRESULT) in the measured window
    errors: int = 0  # CALLERRORs and unanswered CALLs
    seconds: float = 0.0  # the measured window
    rate: float = 0.0  # messages per second
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    connect_p50_ms: float = float("nan")
    connect_p99_ms: float = float("nan")
    boot_seconds: float = float("nan")  # first connection attempt to last BootNotification answered
    rss_baseline_kib: int = 0
    rss_loaded_kib: int = 0
    rss_per_connection_kib: float = float("nan")
    refusal_reasons: dict[str, int] = field(default_factory=dict)
    by_action: dict[str, dict[str, float]] = field(default_factory=dict)  # action: count, p50/p99 ms
    latencies: list[float] = field(default_factory=list, repr=False)
    action_latencies: dict[str, list[float]] = field(default_factory=dict, repr=False)
    connect_times: list[float] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        self.rate = self.messages / self.seconds if self.seconds else 0.0
        self.p50_ms = percentile(self.latencies, 50) * 1000
        self.p99_ms = percentile(self.latencies, 99) * 1000
        self.max_ms = max(self.latencies) * 1000 if self.latencies else float("nan")
        self.connect_p50_ms = percentile(self.connect_times, 50) * 1000
        self.connect_p99_ms = percentile(self.connect_times, 99) * 1000
        self.by_action = {
            action: {"count": len(values), "p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000}
            for action, values in sorted(self.action_latencies.items())
        }

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies")
        data.pop("action_latencies")
        data.pop("connect_times")
        return data


class Charger:
    """One simulated charger: a socket, a reader, and calls awaited by unique id."""

    def __init__(self, cp_id: str, url: str, stats: Stats, *, measure: bool = True) -> None:
        self.cp_id = cp_id
        self.url = url.rstrip("/") + "/" + cp_id
        self.stats = stats
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.measure = measure
        self.energy_wh = random.randrange(1_000_000, 2_000_000)
        self.id_tag = "BT-" + cp_id.rsplit("-", 1)[-1][-5:]  # its own driver's tag (run_all.py makes them)
        self.ids = itertools.count(1)

    async def connect(self, timeout: float) -> bool:
        started = time.perf_counter()
        try:
            self.ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                               open_timeout=timeout, ping_interval=None, close_timeout=2,
                                               compression=None, max_queue=64)
        except Exception as exc:  # noqa: BLE001 (every failure is a refusal, counted by kind)
            self.stats.refused += 1
            reason = type(exc).__name__
            if isinstance(exc, websockets.InvalidStatus):
                reason = f"HTTP {exc.response.status_code}"
            self.stats.refusal_reasons[reason] = self.stats.refusal_reasons.get(reason, 0) + 1
            return False
        self.stats.connect_times.append(time.perf_counter() - started)
        self.reader = asyncio.ensure_future(self._read())
        return True

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg[0] == 2:  # the server calls us
                    await self.ws.send(json.dumps([3, msg[1], REPLIES.get(msg[2], {})]))
                    continue
                future = self.pending.pop(msg[1], None)
                if future is not None and not future.done():
                    future.set_result(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("closed"))
            self.pending.clear()

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any] | None:
        unique_id = uuid.uuid4().hex[:16]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        started = time.perf_counter()
        try:
            await self.ws.send(json.dumps([2, unique_id, action, payload]))
            msg = await asyncio.wait_for(future, timeout)
        except (asyncio.TimeoutError, ConnectionError, websockets.ConnectionClosed):
            self.pending.pop(unique_id, None)
            if self.measure:
                self.stats.errors += 1
            return None
        elapsed = time.perf_counter() - started
        if msg[0] == 4:
            if self.measure:
                self.stats.errors += 1
            return None
        if self.measure:
            self.stats.messages += 1
            self.stats.latencies.append(elapsed)
            self.stats.action_latencies.setdefault(action, []).append(elapsed)
        return msg[2]  # type: ignore[no-any-return]

    async def boot(self) -> bool:
        answer = await self.call("BootNotification", {
            "chargePointVendor": "Bench", "chargePointModel": "LoadGen", "firmwareVersion": "1.0"}, timeout=120)
        return bool(answer) and answer.get("status") == "Accepted"

    async def status(self, connector_id: int, status: str) -> Any:
        return await self.call("StatusNotification", {
            "connectorId": connector_id, "errorCode": "NoError", "status": status, "timestamp": now()})

    async def heartbeat(self) -> Any:
        return await self.call("Heartbeat", {})

    async def meter_values(self, connector_id: int = 1, transaction_id: int | None = None) -> Any:
        self.energy_wh += random.randrange(50, 200)
        return await self.call("MeterValues", meter_payload(connector_id, self.energy_wh, transaction_id))

    async def transaction(self, id_tag: str, meter_samples: int = 3) -> None:
        """Authorize, StartTransaction, MeterValues × n, StopTransaction."""
        await self.call("Authorize", {"idTag": id_tag})
        started = await self.call("StartTransaction", {
            "connectorId": 1, "idTag": id_tag, "meterStart": self.energy_wh, "timestamp": now()})
        if not started:
            return
        tx = int(started["transactionId"])
        for _ in range(meter_samples):
            await self.meter_values(1, tx)
        await self.call("StopTransaction", {
            "transactionId": tx, "meterStop": self.energy_wh, "timestamp": now(), "reason": "Local",
            "idTag": id_tag})

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()

    @property
    def open(self) -> bool:
        return self.ws is not None and self.reader is not None and not self.reader.done()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (daphne is one process)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_fleet(args: argparse.Namespace, stats: Stats, *, concurrency: int | None = None,
                     boot: bool = True) -> list[Charger]:
    """Connect (and boot) ``args.chargers`` chargers; ``concurrency`` None: all at once."""
    chargers = [Charger(f"{args.prefix}-{i:05d}", args.url, stats, measure=False) for i in range(args.chargers)]
    gate = asyncio.Semaphore(concurrency or len(chargers))

    async def bring_up(charger: Charger) -> None:
        async with gate:
            if await charger.connect(timeout=args.connect_timeout) and boot:
                if not await charger.boot():
                    stats.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(bring_up(c) for c in chargers))
    stats.boot_seconds = time.perf_counter() - started
    return [c for c in chargers if c.open]


async def scenario_boot(args: argparse.Namespace, stats: Stats) -> list[Charger]:
    """Everything at once: the time from the first attempt to the last BootNotification answered."""
    chargers = [Charger(f"{args.prefix}-{i:05d}", args.url, stats) for i in range(args.chargers)]

    async def bring_up(charger: Charger) -> None:
        if await charger.connect(timeout=args.connect_timeout):
            await charger.boot()  # an unanswered or refused boot counts as an error

    started = time.perf_counter()
    await asyncio.gather(*(bring_up(c) for c in chargers))
    stats.seconds = stats.boot_seconds = time.perf_counter() - started
    return chargers


async def run_loops(chargers: list[Charger], args: argparse.Namespace, stats: Stats,
                    step: Any, *, pause: float, jitter: bool) -> None:
    """Each charger repeats ``step`` (then sleeps ``pause``) until the window closes."""
    deadline = time.perf_counter() + args.duration

    async def loop(charger: Charger, index: int) -> None:
        charger.measure = True
        if jitter and pause:
            await asyncio.sleep(random.uniform(0, pause))
        while time.perf_counter() < deadline and charger.open:
            tick = time.perf_counter()
            await step(charger, index)
            if pause:
                await asyncio.sleep(max(0.0, pause - (time.perf_counter() - tick)))

    started = time.perf_counter()
    await asyncio.gather(*(loop(c, i) for i, c in enumerate(chargers)))
    stats.seconds = time.perf_counter() - started


async def mixed_step(charger: Charger, index: int) -> None:
    """Saturation's mix, 10 messages: a transaction with meter values, a status, a heartbeat."""
    await charger.transaction(charger.id_tag, meter_samples=5)
    await charger.status(1, "Available")
    await charger.heartbeat()


async def fleet_step(charger: Charger, index: int, changing: bool = False) -> None:
    """One call per tick, like a charger in service: mostly meter values, some status and heartbeats.
    ``changing``: each status differs from the charger's last (Charging, SuspendedEV, Charging…),
    so the server stores a change every time instead of a repeat."""
    charger_tick = next(charger.ids)
    kind = charger_tick % 4
    if kind == 0:
        await charger.heartbeat()
    elif kind == 1:
        await charger.status(1, "SuspendedEV" if changing and charger_tick % 8 == 1 else "Charging")
    else:
        await charger.meter_values(1)


async def run(args: argparse.Namespace) -> Stats:
    stats = Stats(scenario=args.scenario, server=args.label or args.url, chargers=args.chargers)
    chargers: list[Charger] = []
    try:
        if args.scenario == "boot":
            chargers = await scenario_boot(args, stats)
        elif args.scenario == "idle":
            if args.server_pid:
                stats.rss_baseline_kib = rss_kib(args.server_pid)
            chargers = await open_fleet(args, stats, concurrency=args.open_concurrency)
            for c in chargers:
                c.measure = True
            # Hold them: heartbeats every --heartbeat seconds (spread), for --duration seconds.
            await run_loops(chargers, args, stats, lambda c, i: c.heartbeat(), pause=args.heartbeat, jitter=True)
            if args.server_pid:
                stats.rss_loaded_kib = rss_kib(args.server_pid)
                held = sum(1 for c in chargers if c.open)
                if held:
                    stats.rss_per_connection_kib = (stats.rss_loaded_kib - stats.rss_baseline_kib) / held
        else:
            chargers = await open_fleet(args, stats, concurrency=args.open_concurrency)
            quiet_collector()
            if args.scenario == "saturation":
                await run_loops(chargers, args, stats, mixed_step, pause=0, jitter=False)
            elif args.scenario == "transactions":
                await run_loops(chargers, args, stats, lambda c, i: c.transaction(c.id_tag), pause=args.pause,
                                jitter=True)
            elif args.scenario in ("fleet", "traffic"):
                step = functools.partial(fleet_step, changing=args.changing_status)
                await run_loops(chargers, args, stats, step, pause=args.interval, jitter=True)
        stats.held = sum(1 for c in chargers if c.open)
        stats.dropped = (stats.chargers - stats.refused) - stats.held
    finally:
        await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)
    stats.finish()
    return stats


def quiet_collector() -> None:
    """Keep the load generator's own garbage collector out of the latencies it measures.

    With thousands of chargers' objects alive, a full collection pauses this process's event loop
    for 100-300 ms, and every call in flight meanwhile would count that pause as the server's. The
    objects made so far are frozen (never scanned again) and collections of the young generation
    are made rarer; a long run's garbage is still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def print_stats(stats: Stats) -> None:
    print(f"{stats.scenario} against {stats.server}: {stats.chargers} chargers, held {stats.held}, "
          f"refused {stats.refused} {stats.refusal_reasons or ''}, dropped {stats.dropped}")
    print(f"  {stats.messages} answered calls in {stats.seconds:.1f} s = {stats.rate:.0f} msg/s, "
          f"errors {stats.errors}; latency p50 {stats.p50_ms:.1f} ms, p99 {stats.p99_ms:.1f} ms, "
          f"max {stats.max_ms:.0f} ms")
    for action, figures in stats.by_action.items():
        print(f"    {action:<20} {figures['count']:>7.0f} calls, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms")
    if stats.scenario in ("boot", "idle", "fleet"):
        print(f"  connect p50 {stats.connect_p50_ms:.1f} ms, p99 {stats.connect_p99_ms:.1f} ms; "
              f"all up in {stats.boot_seconds:.1f} s")
    if stats.rss_baseline_kib:
        print(f"  server RSS {stats.rss_baseline_kib / 1024:.0f} MiB → {stats.rss_loaded_kib / 1024:.0f} MiB: "
              f"{stats.rss_per_connection_kib:.1f} KiB per connection")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/")
    parser.add_argument("--scenario", choices=SCENARIOS, default="saturation")
    parser.add_argument("--chargers", type=int, default=None, help="default: per scenario")
    parser.add_argument("--duration", type=float, default=20.0, help="measured window, seconds")
    parser.add_argument("--interval", type=float, default=5.0, help="fleet/traffic: seconds between calls")
    parser.add_argument("--changing-status", action="store_true",
                        help="fleet/traffic: every StatusNotification changes the status (else: repeats)")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="idle: heartbeat interval")
    parser.add_argument("--pause", type=float, default=1.0, help="transactions: pause between cycles")
    parser.add_argument("--prefix", default="BENCH", help="charge point ids are PREFIX-00001…")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--open-concurrency", type=int, default=200,
                        help="connections opened at a time before the measured window (not for boot)")
    parser.add_argument("--server-pid", type=int, default=0, help="measure this process's RSS (idle)")
    parser.add_argument("--label", default="", help="the server's name in the report")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for run_all.py)")
    args = parser.parse_args(argv)
    if args.chargers is None:
        args.chargers = DEFAULT_CHARGERS[args.scenario]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_open_files_limit()
    if args.chargers + 100 > limit:
        print(f"warning: {args.chargers} chargers but only {limit} open files allowed", file=sys.stderr)
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    stats = asyncio.run(run(args))
    if args.json:
        print(json.dumps(stats.report()))
    else:
        print_stats(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
