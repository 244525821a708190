"""``manage.py simulate_charger DEMO-1``: a simulated OCPP 1.6J charger for trying the CSMS.

It connects to ``--url`` + the charge point id, boots, heartbeats, reports its connectors, answers
every command the CSMS sends, and charges (``--sessions N``, or when started remotely). Ctrl-C
ends the running sessions with a StopTransaction and closes the socket; a second Ctrl-C quits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from stations.models import CHARGE_POINT_ID_PATTERN
from stations.simulator import SimulatorConfig, install_signal_handlers, run_simulator


class Command(BaseCommand):
    help = "Run a simulated OCPP 1.6J charge point against a CSMS (this one by default)."
    # A client of the server: it needs neither the database nor the project's checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point_id", help="the charge point id, e.g. DEMO-1")
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/",
                            help="the OCPP endpoint; the id is appended (default: %(default)s)")
        parser.add_argument("--password", default="", help="Basic-auth password, when the station has one")
        parser.add_argument("--connectors", type=int, default=2, help="number of connectors (default: 2)")
        parser.add_argument("--sessions", type=int, default=0,
                            help="local charging sessions to run one after another, then exit "
                                 "(default: 0, stay connected and wait for remote starts)")
        parser.add_argument("--id-tag", default="DEMO-TAG-1", help="the id tag badged for local sessions")
        parser.add_argument("--session-seconds", type=float, default=60.0,
                            help="how long a local session charges (default: 60)")
        parser.add_argument("--pause-seconds", type=float, default=5.0, help="pause between local sessions")
        parser.add_argument("--meter-interval", type=int, default=10,
                            help="MeterValueSampleInterval in seconds (default: 10)")
        parser.add_argument("--speed", type=float, default=1.0,
                            help="simulated seconds per real second for the battery and energy (default: 1; "
                                 "60 shows an hour of charging per minute)")
        parser.add_argument("--max-power-kw", type=float, default=22.0, help="charger power per connector")
        parser.add_argument("--vendor", default="CSMS")
        parser.add_argument("--model", default="Simulator AC22")
        parser.add_argument("--stay", action="store_true", help="keep running after the local sessions")
        parser.add_argument("--no-reconnect", action="store_true", help="exit when the connection drops")
        parser.add_argument("--seed", type=int, default=None, help="random seed (reproducible curves)")

    def handle(self, *args: Any, **options: Any) -> None:
        cp_id = options["charge_point_id"]
        if not re.match(CHARGE_POINT_ID_PATTERN, cp_id):
            self.stderr.write(f"invalid charge point id {cp_id!r}: 1 to 48 characters of A-Z a-z 0-9 . _ - :")
            sys.exit(2)
        config = SimulatorConfig(
            charge_point_id=cp_id, url=options["url"], password=options["password"],
            connectors=max(1, options["connectors"]), sessions=max(0, options["sessions"]),
            id_tag=options["id_tag"], session_seconds=options["session_seconds"],
            pause_seconds=options["pause_seconds"], meter_interval=max(1, options["meter_interval"]),
            speed=max(options["speed"], 0.01), max_power_w=options["max_power_kw"] * 1000,
            vendor=options["vendor"], model=options["model"], stay=options["stay"],
            reconnect=not options["no_reconnect"], seed=options["seed"],
        )
        simulator_logger = logging.getLogger("stations.simulator")
        if not simulator_logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            simulator_logger.addHandler(handler)
            simulator_logger.setLevel(logging.INFO)
            simulator_logger.propagate = False

        async def main() -> int:
            stop = asyncio.Event()
            install_signal_handlers(stop)
            try:
                cp = await run_simulator(config, stop)
            except Exception as exc:  # refused handshake with --no-reconnect, and the like
                self.stderr.write(f"{cp_id}: {exc}")
                return 1
            self.stdout.write(f"{cp_id}: done, {cp.sessions_done} session(s) charged")
            return 0

        try:
            code = asyncio.run(main())
        except KeyboardInterrupt:
            code = 130
        if code:
            sys.exit(code)
