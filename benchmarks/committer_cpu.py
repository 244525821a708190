#!/usr/bin/env python3
"""CPU of the database side per OCPP message, for the saturation scenario's mix, without sockets.

Run on demand, never in CI. Builds the group committer's batches the way 100 saturating chargers
fill them (each charger: Authorize, StartTransaction, five MeterValues, StopTransaction, a
StatusNotification and a Heartbeat, every charger at its own step) and runs them through the
committer's own ``_execute`` and ``_run_hooks``, in this process, on the benchmark database that
``benchmarks/run_all.py`` prepares (its ``BENCH-…`` stations and ``BT-…`` id tags). Prints the
CPU and wall time per message: the CPU is what a lane thread costs the server's one core; the
wall time adds PostgreSQL's.

    .venv/bin/python benchmarks/run_all.py --scenarios saturation --servers bare   # prepares the database
    .venv/bin/python benchmarks/committer_cpu.py --chargers 50 --rounds 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/csms_bench")
os.environ.setdefault("CSMS_CHANNEL_PREFIX", "csmsbench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")  # the Celery broker of the after-commit work
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=50, help="messages per batch (one per charger)")
    parser.add_argument("--rounds", type=int, default=200, help="batches measured (after 20 to warm up)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from accounts.authorization import id_tag_authorize
    from stations import services as stations
    from stations.models import Station
    from stations.protocol import committer
    from transactions import services as transactions

    ids = [f"BENCH-{i:05d}" for i in range(args.chargers)]
    station_ids = dict(Station.objects.filter(charge_point_id__in=ids).values_list("charge_point_id", "id"))
    if len(station_ids) < len(ids):
        print("the benchmark database is not prepared: run benchmarks/run_all.py once", file=sys.stderr)
        return 1
    # Each charger at its own step of the cycle (those that would start inside a session start
    # at its Authorize instead).
    state = [{"step": 0 if 2 <= i % 10 <= 7 else i % 10, "tx": None, "energy": 1000} for i in range(args.chargers)]

    def meter_values(charger: dict[str, Any]) -> list[dict[str, Any]]:
        charger["energy"] += 100
        return [{"timestamp": timezone.now().isoformat(), "sampled_value": [
            {"value": str(charger["energy"]), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
             "context": "Sample.Periodic", "location": "Outlet"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"},
            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N", "context": "Sample.Periodic"},
            {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": "Sample.Periodic"},
            {"value": "54", "measurand": "SoC", "unit": "Percent", "location": "EV", "context": "Sample.Periodic"},
        ]}]

    def item(i: int) -> Any:
        charger, cp, tag, now = state[i], ids[i], f"BT-{i:05d}", timezone.now()
        step = charger["step"]
        if step == 0:
            return committer._Item(id_tag_authorize, {"id_tag": tag, "now": now}, None)
        if step == 1:
            return committer._Item(transactions.transaction_start, {
                "charge_point_id": cp, "connector_id": 1, "id_tag": tag, "meter_start_wh": charger["energy"],
                "started_at": now, "now": now, "reservation_id": None}, None)
        if 2 <= step <= 6:
            return committer._Item(transactions.meter_values_record, {
                "charge_point_id": cp, "connector_id": 1, "meter_values": meter_values(charger),
                "transaction_id": charger["tx"], "now": now}, None)
        if step == 7:
            return committer._Item(transactions.transaction_stop, {
                "charge_point_id": cp, "transaction_id": charger["tx"], "meter_stop_wh": charger["energy"],
                "stopped_at": now, "now": now, "id_tag": tag, "reason": "Local", "transaction_data": []}, None)
        if step == 8:
            return committer._Item(stations.connector_status_update, {
                "charge_point_id": cp, "connector_id": 1, "status": "Available", "error_code": "NoError",
                "timestamp": now, "now": now, "info": "", "vendor_id": "", "vendor_error_code": ""}, None)
        return None  # a Heartbeat: no database work of its own

    def batch() -> int:
        items, owners, log = [], [], []
        for i in range(args.chargers):
            now = timezone.now()
            # The message log: the call and its answer.
            log.append((ids[i], station_ids[ids[i]], "in", 2, "Action", "id", {"a": 1}, now))
            log.append((ids[i], station_ids[ids[i]], "out", 3, "Action", "id", {"a": 1}, now))
            found = item(i)
            if found is None:
                state[i]["step"] = 0
            else:
                items.append(found)
                owners.append(i)
        events: list[Any] = []
        hooks: list[Any] = []
        committer._execute(items, log, events, hooks)
        if hooks:
            committer._run_hooks(hooks, [])
        for found, i in zip(items, owners):
            if not found.ok:
                raise found.result
            if state[i]["step"] == 1:
                state[i]["tx"] = found.result.transaction.pk
            state[i]["step"] += 1
        return args.chargers

    for _ in range(20):
        batch()
    messages = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.rounds):
        messages += batch()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    while any(1 < charger["step"] < 8 for charger in state):  # end the sessions still open
        batch()
    print(f"{messages} messages in batches of {args.chargers}: CPU {cpu / messages * 1e6:.0f} µs per message, "
          f"wall {wall / messages * 1e6:.0f} µs per message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
