#!/usr/bin/env python3
"""The yardstick: a bare OCPP 1.6J server, the ``ocpp`` library's v16 ChargePoint on ``websockets``.

Same handlers as the CSMS (BootNotification, Heartbeat, StatusNotification, Authorize,
StartTransaction, MeterValues, StopTransaction, DataTransfer, Diagnostics/Firmware status),
same schema validation (the library's), no database, no channel layer. What the CSMS's rates
are compared with in ``benchmarks/ocpp_load.py``.

    python benchmarks/bare_server.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import resource
from datetime import datetime, timezone
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

TRANSACTION_IDS = itertools.count(1)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BareCentralSystem(ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=now(), interval=60, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(transaction_id=next(TRANSACTION_IDS), id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()


async def handler(connection: Any) -> None:
    if connection.subprotocol != "ocpp1.6":
        await connection.close(1002, "subprotocol")
        return
    charge_point_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    cp = BareCentralSystem(charge_point_id, connection)
    try:
        await cp.start()
    except websockets.ConnectionClosed:
        pass


async def main(host: str, port: int, tune_gc: bool) -> None:
    async with websockets.serve(handler, host, port, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                max_size=131072, ping_interval=None, backlog=4096):
        if tune_gc:
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        print(f"bare ocpp server on ws://{host}:{port}/ocpp/<id>", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--no-gc-tuning", action="store_true", help="leave Python's collector at its defaults")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    try:
        asyncio.run(main(args.host, args.port, not args.no_gc_tuning))
    except KeyboardInterrupt:
        pass
