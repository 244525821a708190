"""``manage.py ocpp_call <charge_point_id> <Action> '<json>'``: send one call, print the answer."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ChargerCallError, DomainError, InvalidInput
from stations.protocol.remote import CSMS_ACTIONS, call


class Command(BaseCommand):
    help = "Send a CSMS-initiated OCPP 1.6 call to a connected charger and print its answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point_id")
        parser.add_argument("action", help=", ".join(CSMS_ACTIONS))
        parser.add_argument("payload", nargs="?", default="{}", help="the OCPP request payload as JSON")
        parser.add_argument("--timeout", type=float, default=None, help="seconds (default CSMS_CALL_TIMEOUT)")
        parser.add_argument("--no-wait", action="store_true", help="return once the consumer has the call")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            payload = json.loads(options["payload"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"The payload is not valid JSON: {exc}") from exc
        try:
            command = call(
                options["charge_point_id"], options["action"], payload, wait=not options["no_wait"],
                timeout=options["timeout"], source="manage.py",
            )
        except InvalidInput as exc:
            fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.extra.get("errors", {}).items())
            raise CommandError(f"{exc.message} {fields}".strip()) from exc
        except ChargerCallError as exc:
            raise CommandError(f"{exc.message} {json.dumps(exc.extra.get('error'))} (command {exc.extra.get('command')})") from exc
        except DomainError as exc:
            suffix = f" (command {exc.extra['command']})" if "command" in exc.extra else ""
            raise CommandError(f"{exc.message}{suffix}") from exc
        if options["no_wait"]:
            self.stdout.write(f"command {command.pk}: {command.state}")
            return
        self.stdout.write(json.dumps(command.response, indent=2, sort_keys=True))
