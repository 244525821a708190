"""A simulated OCPP 1.6J charge point, built on the ``ocpp`` library over ``websockets``.

It boots, heartbeats at the interval the CSMS gives it, reports connector statuses, answers every
CSMS-initiated call a real charger would (configuration, remote start/stop, reset, unlock,
availability, reservations, trigger message, charging profiles, data transfer, local list,
diagnostics, firmware) and runs charging sessions with a realistic meter curve: the energy register
grows with a power that follows a CC/CV taper of the car's state of charge, with voltage and current
per phase, sent as periodic MeterValues.

``manage.py simulate_charger`` is the door; this module has no Django imports so that the
benchmarks and tests can drive it directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

logger = logging.getLogger("stations.simulator")

NOMINAL_VOLTAGE_V = 230.0
PHASES = ("L1", "L2", "L3")


def utc_now() -> str:
    """OCPP time: UTC with a ``Z``, millisecond precision."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- The physics: a car's battery behind an AC charger -------------------------------------------


@dataclass
class Vehicle:
    """A car's battery as the charger sees it.

    Constant current (full power) up to ``cv_threshold`` state of charge, then constant voltage:
    the power tapers linearly to a trickle at 100 %. The on-board charger needs a few seconds to
    ramp up. Charging stops by itself (power 0) when the battery is full.
    """

    capacity_wh: float = 60_000.0
    soc: float = 0.25  # 0..1
    max_power_w: float = 11_000.0  # the on-board charger
    cv_threshold: float = 0.80
    ramp_seconds: float = 5.0
    efficiency: float = 0.92  # of the energy metered, what reaches the cells

    def acceptance_w(self, *, elapsed_s: float) -> float:
        """The power the car accepts now, before the charger's own limit."""
        if self.soc >= 1.0:
            return 0.0
        power = self.max_power_w
        if self.soc > self.cv_threshold:
            taper = (1.0 - self.soc) / (1.0 - self.cv_threshold)
            power *= max(taper, 0.03)
        if elapsed_s < self.ramp_seconds:
            power *= max(elapsed_s / self.ramp_seconds, 0.1)
        return power

    def charge(self, energy_wh: float) -> None:
        self.soc = min(1.0, self.soc + energy_wh * self.efficiency / self.capacity_wh)


@dataclass
class MeterSample:
    """What the charger's meter reads at one instant."""

    energy_wh: float  # the register (cumulative over the charger's life)
    power_w: float
    soc_percent: float
    voltage_v: tuple[float, float, float]
    current_a: tuple[float, float, float]
    offered_a: float
    frequency_hz: float

    def sampled_values(self, *, context: str) -> list[dict[str, Any]]:
        """The 1.6 ``sampledValue`` list: every value a string, with unit, phase and location."""

        def sv(measurand: str, value: float, unit: str, *, digits: int = 1, **extra: str) -> dict[str, Any]:
            item = {"value": f"{value:.{digits}f}", "context": context, "measurand": measurand,
                    "location": "Outlet"}
            if unit:  # 1.6 has no unit for Frequency
                item["unit"] = unit
            item.update(extra)
            return item

        values = [
            sv("Energy.Active.Import.Register", self.energy_wh, "Wh", digits=0),
            sv("Power.Active.Import", self.power_w, "W", digits=0),
            sv("Current.Offered", self.offered_a, "A"),
            sv("Frequency", self.frequency_hz, "", digits=2),
        ]
        for phase, volts, amps in zip(PHASES, self.voltage_v, self.current_a):
            values.append(sv("Voltage", volts, "V", phase=f"{phase}-N"))
            values.append(sv("Current.Import", amps, "A", phase=phase))
        values.append(sv("SoC", self.soc_percent, "Percent", digits=0) | {"location": "EV"})
        return values


@dataclass
class Meter:
    """The charger's energy meter on one connector: integrates power over time."""

    energy_wh: float = 0.0
    phases: int = 3
    rng: random.Random = field(default_factory=random.Random)

    def step(self, *, vehicle: Vehicle, limit_w: float, elapsed_s: float, dt_s: float) -> MeterSample:
        """Advance ``dt_s`` seconds of (simulated) charging and read the meter."""
        power = min(vehicle.acceptance_w(elapsed_s=elapsed_s), limit_w)
        if power > 0:
            power *= 1.0 + self.rng.uniform(-0.01, 0.01)  # ripple
        energy = power * dt_s / 3600.0
        self.energy_wh += energy
        vehicle.charge(energy)
        return self.read(vehicle=vehicle, power_w=power, limit_w=limit_w)

    def read(self, *, vehicle: Vehicle | None, power_w: float, limit_w: float) -> MeterSample:
        volts = tuple(NOMINAL_VOLTAGE_V + self.rng.uniform(-3.0, 3.0) for _ in PHASES)
        per_phase_w = power_w / self.phases
        amps = tuple(per_phase_w / v if i < self.phases else 0.0 for i, v in enumerate(volts))
        return MeterSample(
            energy_wh=self.energy_wh,
            power_w=power_w,
            soc_percent=100.0 * (vehicle.soc if vehicle else 0.0),
            voltage_v=volts,  # type: ignore[arg-type]
            current_a=amps,  # type: ignore[arg-type]
            offered_a=limit_w / (self.phases * NOMINAL_VOLTAGE_V),
            frequency_hz=50.0 + self.rng.uniform(-0.05, 0.05),
        )


# --- The charger ---------------------------------------------------------------------------------


@dataclass
class SimulatorConfig:
    charge_point_id: str
    url: str = "ws://127.0.0.1:8000/ocpp/"
    password: str = ""
    connectors: int = 2
    sessions: int = 0  # local sessions to run one after another (0: wait for remote starts)
    id_tag: str = "DEMO-TAG-1"
    session_seconds: float = 60.0  # how long a local session charges before the driver stops it
    pause_seconds: float = 5.0  # between local sessions
    meter_interval: int = 10  # MeterValueSampleInterval, seconds
    speed: float = 1.0  # simulated seconds per real second (energy, SoC)
    max_power_w: float = 22_000.0  # per connector
    vendor: str = "CSMS"
    model: str = "Simulator AC22"
    serial_number: str = ""
    firmware_version: str = "1.4.2"
    stay: bool = False  # keep running after the local sessions
    reconnect: bool = True
    seed: int | None = None

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + self.charge_point_id


@dataclass
class Session:
    connector_id: int
    id_tag: str
    vehicle: Vehicle
    started_monotonic: float
    transaction_id: int | None = None
    reservation_id: int | None = None
    meter_start_wh: int = 0
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class ConnectorState:
    connector_id: int
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    meter: Meter = field(default_factory=Meter)
    session: Session | None = None
    reservation: dict[str, Any] | None = None  # reservationId, idTag, expiryDate
    pending_unavailable: bool = False


def _config_keys(config: SimulatorConfig) -> dict[str, tuple[str, bool]]:
    """The configuration keys of a typical AC wallbox: key → (value, readonly)."""
    return {
        "AllowOfflineTxForUnknownId": ("false", False),
        "AuthorizationCacheEnabled": ("false", False),
        "AuthorizeRemoteTxRequests": ("false", False),
        "ChargeProfileMaxStackLevel": ("8", True),
        "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
        "ChargingScheduleMaxPeriods": ("24", True),
        "ClockAlignedDataInterval": ("0", False),
        "ConnectionTimeOut": ("60", False),
        "ConnectorPhaseRotation": ("0.RST,1.RST,2.RST", False),
        "GetConfigurationMaxKeys": ("64", True),
        "HeartbeatInterval": ("60", False),
        "LocalAuthListEnabled": ("true", False),
        "LocalAuthListMaxLength": ("1000", True),
        "LocalAuthorizeOffline": ("true", False),
        "LocalPreAuthorize": ("false", False),
        "MaxChargingProfilesInstalled": ("8", True),
        "MeterValueSampleInterval": (str(config.meter_interval), False),
        "MeterValuesAlignedData": ("Energy.Active.Import.Register", False),
        "MeterValuesSampledData": (
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,"
            "Voltage,Frequency,SoC", False),
        "NumberOfConnectors": (str(config.connectors), True),
        "ReserveConnectorZeroSupported": ("false", True),
        "ResetRetries": ("3", False),
        "SendLocalListMaxLength": ("100", True),
        "StopTransactionOnEVSideDisconnect": ("true", False),
        "StopTransactionOnInvalidId": ("true", False),
        "StopTxnAlignedData": ("", False),
        "StopTxnSampledData": ("Energy.Active.Import.Register", False),
        "SupportedFeatureProfiles": (
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger", True),
        "TransactionMessageAttempts": ("3", False),
        "TransactionMessageRetryInterval": ("30", False),
        "UnlockConnectorOnEVSideDisconnect": ("true", False),
        "WebSocketPingInterval": ("30", False),
    }


INTEGER_KEYS = {
    "ClockAlignedDataInterval", "ConnectionTimeOut", "HeartbeatInterval", "MeterValueSampleInterval",
    "ResetRetries", "TransactionMessageAttempts", "TransactionMessageRetryInterval", "WebSocketPingInterval",
}
BOOLEAN_KEYS = {
    "AllowOfflineTxForUnknownId", "AuthorizationCacheEnabled", "AuthorizeRemoteTxRequests",
    "LocalAuthListEnabled", "LocalAuthorizeOffline", "LocalPreAuthorize", "StopTransactionOnEVSideDisconnect",
    "StopTransactionOnInvalidId", "UnlockConnectorOnEVSideDisconnect",
}


class Disconnected(Exception):
    """The socket went away while a call was in flight."""


class SimulatedChargePoint(ChargePoint):
    """One simulated charger. Survives reconnections: the socket is swapped, the state stays."""

    def __init__(self, config: SimulatorConfig, connection: Any = None) -> None:
        super().__init__(config.charge_point_id, connection, response_timeout=30)
        self.config = config
        self.rng = random.Random(config.seed)
        self.configuration = {k: list(v) for k, v in _config_keys(config).items()}
        base_register = self.rng.randrange(1_000_000, 9_000_000)
        self.connectors = {
            n: ConnectorState(n, meter=Meter(energy_wh=float(base_register + 100_000 * n), rng=self.rng))
            for n in range(1, config.connectors + 1)
        }
        self.charger_operative = True
        self.registration = ""  # last BootNotification status
        self.heartbeat_interval = 60
        self.booted = asyncio.Event()
        self.reset_requested: str | None = None
        self.reconnect_now = asyncio.Event()
        self.charging_profiles: dict[int, dict[str, Any]] = {}  # chargingProfileId → profile (+connectorId)
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}
        self.data_transfers: list[dict[str, Any]] = []
        self.firmware_version = config.firmware_version
        self.sessions_done = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        # What an ``on_…`` handler decided, for its ``after_…`` hook (run once the answer is sent).
        self._pending_remote_start: tuple[int, str, int | None] | None = None
        self._availability_changes: tuple[list[int], bool, bool] = ([], True, False)
        self._reserved: int | None = None
        self._cancelled: int | None = None

    # -- plumbing -------------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any], name: str = "") -> asyncio.Task[Any]:
        """Run work in the background; CSMS-initiated calls must not await our own calls."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, Disconnected):
                logger.error("%s: background task failed: %r", self.id, exc, exc_info=exc)

    async def send_call(self, payload: Any) -> Any:
        """``call`` that raises ``Disconnected`` instead of a websockets error.

        A CALLERROR from the CSMS is logged and gives ``None``: a real charger carries on.
        """
        if self._connection is None:
            raise Disconnected()
        try:
            return await self.call(payload, suppress=False)
        except OCPPError as exc:
            logger.warning("%s ✗ %s answered with CALLERROR %s: %s", self.id, type(payload).__name__,
                           exc.code, exc.description)
            return None
        except (websockets.ConnectionClosed, ConnectionError) as exc:
            raise Disconnected() from exc
        except asyncio.TimeoutError as exc:
            logger.warning("%s: no answer to %s within %ss", self.id, type(payload).__name__,
                           self._response_timeout)
            raise Disconnected() from exc

    def config_int(self, key: str, default: int) -> int:
        try:
            return int(self.configuration[key][0])
        except (KeyError, ValueError):
            return default

    def config_bool(self, key: str) -> bool:
        return self.configuration.get(key, ["false"])[0].lower() == "true"

    # -- what the charger sends -----------------------------------------------------------------

    async def boot(self) -> str:
        """BootNotification until Accepted (Pending/Rejected: retry after the interval given)."""
        while True:
            logger.info("%s → BootNotification (%s %s, firmware %s)", self.id, self.config.vendor,
                        self.config.model, self.firmware_version)
            result = await self.send_call(call.BootNotification(
                charge_point_vendor=self.config.vendor, charge_point_model=self.config.model,
                charge_point_serial_number=self.config.serial_number or f"SIM-{self.id}"[:25],
                firmware_version=self.firmware_version, meter_type="SIM-METER 3P",
            ))
            if result is None:
                await asyncio.sleep(10)
                continue
            self.registration = result.status
            interval = int(result.interval) if result.interval else 60
            logger.info("%s ← BootNotification %s (heartbeat interval %s s)", self.id, result.status, interval)
            if result.status == "Accepted":
                self.heartbeat_interval = interval if interval > 0 else 60
                self.configuration["HeartbeatInterval"][0] = str(self.heartbeat_interval)
                self.booted.set()
                return result.status
            await asyncio.sleep(interval if interval > 0 else 10)

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.heartbeat_interval, 1))
            result = await self.send_call(call.Heartbeat())
            if result is not None:
                logger.info("%s ⇄ Heartbeat (server time %s)", self.id, result.current_time)

    async def status(self, connector_id: int, status: str | None = None, *, error_code: str | None = None) -> None:
        if connector_id == 0:
            status = status or ("Available" if self.charger_operative else "Unavailable")
            error_code = error_code or "NoError"
        else:
            state = self.connectors[connector_id]
            if status is not None:
                state.status = status
            if error_code is not None:
                state.error_code = error_code
            status, error_code = state.status, state.error_code
        logger.info("%s → StatusNotification connector %s: %s", self.id, connector_id, status)
        await self.send_call(call.StatusNotification(
            connector_id=connector_id, error_code=error_code, status=status, timestamp=utc_now()))

    async def report_all_statuses(self) -> None:
        await self.status(0)
        for n in self.connectors:
            await self.status(n)

    async def send_meter_values(self, connector_id: int, sample: MeterSample, *, context: str,
                                transaction_id: int | None) -> None:
        await self.send_call(call.MeterValues(
            connector_id=connector_id, transaction_id=transaction_id,
            meter_value=[{"timestamp": utc_now(), "sampledValue": sample.sampled_values(context=context)}],
        ))

    # -- sessions -------------------------------------------------------------------------------

    def limit_w(self, connector_id: int, transaction_id: int | None) -> float:
        """The charger's power limit: its hardware, capped by the charging profiles in force."""
        limit = self.config.max_power_w
        for profile in self.charging_profiles.values():
            target = profile.get("_connector_id", 0)
            if target not in (0, connector_id):
                continue
            purpose = profile.get("chargingProfilePurpose")
            if purpose == "TxProfile" and profile.get("transactionId") not in (None, transaction_id):
                continue
            if purpose == "TxProfile" and transaction_id is None:
                continue
            schedule = profile.get("chargingSchedule") or {}
            periods = schedule.get("chargingSchedulePeriod") or []
            if not periods:
                continue
            value = float(periods[0].get("limit", limit))
            if schedule.get("chargingRateUnit") == "A":
                value = value * NOMINAL_VOLTAGE_V * int(periods[0].get("numberPhases", 3))
            limit = min(limit, value)
        return max(limit, 0.0)

    def free_connector(self, preferred: int | None = None) -> int | None:
        candidates = [preferred] if preferred else list(self.connectors)
        for n in candidates:
            state = self.connectors.get(n)
            # A reserved connector counts as free here; the caller checks the reservation's id tag.
            if state and state.session is None and state.operative \
                    and state.status in ("Available", "Preparing", "Reserved"):
                return n
        return None

    async def authorize(self, id_tag: str) -> str:
        result = await self.send_call(call.Authorize(id_tag=id_tag))
        status = result.id_tag_info["status"] if result is not None else "Invalid"
        logger.info("%s ⇄ Authorize %s: %s", self.id, id_tag, status)
        return str(status)

    def start_session(self, connector_id: int, id_tag: str, *, reservation_id: int | None = None,
                      duration_s: float | None = None) -> Session:
        vehicle = Vehicle(soc=self.rng.uniform(0.15, 0.45), capacity_wh=self.rng.choice([40_000, 60_000, 77_000]),
                          max_power_w=self.rng.choice([7_400, 11_000, 22_000]))
        session = Session(connector_id=connector_id, id_tag=id_tag, vehicle=vehicle,
                          started_monotonic=time.monotonic(), reservation_id=reservation_id)
        self.connectors[connector_id].session = session
        session.task = self.spawn(self._run_session(session, duration_s))
        return session

    def request_stop(self, session: Session, reason: str, id_tag: str | None = None) -> None:
        if session.stop_reason is None:
            session.stop_reason = reason
            session.stop_id_tag = id_tag
        session.stopped.set()

    async def _run_session(self, session: Session, duration_s: float | None) -> None:
        state = self.connectors[session.connector_id]
        n = session.connector_id
        try:
            await self.status(n, "Preparing")
            meter_start = session.meter_start_wh = int(state.meter.energy_wh)
            result = await self.send_call(call.StartTransaction(
                connector_id=n, id_tag=session.id_tag, meter_start=meter_start, timestamp=utc_now(),
                reservation_id=session.reservation_id))
            if result is None:  # the CSMS failed; nothing was started
                state.session = None
                await self.status(n, "Available")
                return
            session.transaction_id = int(result.transaction_id)
            if state.reservation and state.reservation.get("reservationId") == session.reservation_id:
                state.reservation = None
            tag_status = result.id_tag_info["status"]
            logger.info("%s ⇄ StartTransaction connector %s, id tag %s: transaction %s (%s), meter %s Wh",
                        self.id, n, session.id_tag, session.transaction_id, tag_status, meter_start)
            if tag_status != "Accepted" and self.config_bool("StopTransactionOnInvalidId"):
                self.request_stop(session, "DeAuthorized")
            else:
                await self.status(n, "Charging")
                sample = state.meter.read(vehicle=session.vehicle, power_w=0.0,
                                          limit_w=self.limit_w(n, session.transaction_id))
                await self.send_meter_values(n, sample, context="Transaction.Begin",
                                             transaction_id=session.transaction_id)
                await self._charge(session, state, duration_s)
            await self._finish_session(session, state)
        except Disconnected:
            logger.warning("%s: connection lost during the session on connector %s", self.id, n)
            raise
        finally:
            state.session = None
            session.stopped.set()

    async def _charge(self, session: Session, state: ConnectorState, duration_s: float | None) -> None:
        n = session.connector_id
        tick = 1.0
        last_sent = time.monotonic()
        suspended = False
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not session.stopped.is_set():
            try:
                await asyncio.wait_for(session.stopped.wait(), timeout=tick)
                break
            except asyncio.TimeoutError:
                pass
            elapsed = (time.monotonic() - session.started_monotonic) * self.config.speed
            sample = state.meter.step(vehicle=session.vehicle, limit_w=self.limit_w(n, session.transaction_id),
                                      elapsed_s=elapsed, dt_s=tick * self.config.speed)
            if sample.power_w == 0 and not suspended:
                suspended = True
                await self.status(n, "SuspendedEV")  # the battery is full
            interval = max(self.config_int("MeterValueSampleInterval", self.config.meter_interval), 1)
            if time.monotonic() - last_sent >= interval:
                last_sent = time.monotonic()
                logger.info("%s → MeterValues connector %s: %.0f Wh, %.1f kW, SoC %.0f %%", self.id, n,
                            sample.energy_wh, sample.power_w / 1000, sample.soc_percent)
                await self.send_meter_values(n, sample, context="Sample.Periodic",
                                             transaction_id=session.transaction_id)
            if deadline is not None and time.monotonic() >= deadline:
                self.request_stop(session, "Local", session.id_tag)

    async def _finish_session(self, session: Session, state: ConnectorState) -> None:
        n = session.connector_id
        reason = session.stop_reason or "Local"
        if session.transaction_id is None:
            return
        await self.status(n, "Finishing")
        sample = state.meter.read(vehicle=session.vehicle, power_w=0.0, limit_w=self.limit_w(n, None))
        meter_stop = int(state.meter.energy_wh)
        energy_values = [v for v in sample.sampled_values(context="Transaction.End")
                         if v["measurand"] in ("Energy.Active.Import.Register", "SoC")]
        kwargs: dict[str, Any] = {}
        if reason in ("Local", "DeAuthorized") and session.stop_id_tag:
            kwargs["id_tag"] = session.stop_id_tag
        await self.send_call(call.StopTransaction(
            meter_stop=meter_stop, timestamp=utc_now(), transaction_id=session.transaction_id, reason=reason,
            transaction_data=[{"timestamp": utc_now(), "sampledValue": energy_values}], **kwargs))
        self.sessions_done += 1
        logger.info("%s ⇄ StopTransaction %s (%s): %.0f Wh charged, SoC %.0f %%", self.id, session.transaction_id,
                    reason, meter_stop - session.meter_start_wh,
                    sample.soc_percent)
        state.session = None
        if state.pending_unavailable or not state.operative:
            state.pending_unavailable = False
            state.operative = False
            await self.status(n, "Unavailable")
        else:
            await self.status(n, "Available")

    async def local_session(self, connector_id: int, id_tag: str, duration_s: float) -> None:
        """A driver plugs in, badges, charges for ``duration_s`` seconds and unplugs."""
        state = self.connectors[connector_id]
        if state.session is not None or not state.operative:
            logger.info("%s: connector %s is busy, skipping a local session", self.id, connector_id)
            return
        reservation_id = None
        if state.reservation is not None:
            if state.reservation.get("idTag") != id_tag:
                logger.info("%s: connector %s is reserved for another id tag", self.id, connector_id)
                return
            reservation_id = state.reservation.get("reservationId")
        status = await self.authorize(id_tag)
        if status != "Accepted":
            logger.info("%s: id tag %s not accepted (%s), no session", self.id, id_tag, status)
            return
        session = self.start_session(connector_id, id_tag, reservation_id=reservation_id, duration_s=duration_s)
        await session.stopped.wait()
        if session.task is not None:
            with contextlib.suppress(Exception):
                await session.task

    async def stop_all_sessions(self, reason: str) -> None:
        sessions = [s.session for s in self.connectors.values() if s.session is not None]
        for session in sessions:
            self.request_stop(session, reason)
        for session in sessions:
            if session.task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(session.task), timeout=10)

    # -- what the CSMS asks ---------------------------------------------------------------------

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> call_result.GetConfiguration:
        wanted = key or sorted(self.configuration)
        known = [{"key": k, "readonly": self.configuration[k][1], "value": self.configuration[k][0]}
                 for k in wanted if k in self.configuration]
        unknown = [k for k in wanted if k not in self.configuration]
        logger.info("%s ← GetConfiguration (%s keys, %s unknown)", self.id, len(known), len(unknown))
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        status = "Accepted"
        if key not in self.configuration:
            status = "NotSupported"
        elif self.configuration[key][1]:
            status = "Rejected"
        elif key in INTEGER_KEYS and not value.strip().isdigit():
            status = "Rejected"
        elif key in BOOLEAN_KEYS and value.lower() not in ("true", "false"):
            status = "Rejected"
        else:
            self.configuration[key][0] = value
            if key == "HeartbeatInterval" and int(value) > 0:
                self.heartbeat_interval = int(value)
        logger.info("%s ← ChangeConfiguration %s=%s: %s", self.id, key, value, status)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                    charging_profile: dict[str, Any] | None = None,
                                    **_: Any) -> call_result.RemoteStartTransaction:
        n = self.free_connector(connector_id)
        if n is not None and self.connectors[n].reservation is not None \
                and self.connectors[n].reservation.get("idTag") != id_tag:  # type: ignore[union-attr]
            n = None
        status = "Accepted" if n is not None and self.charger_operative else "Rejected"
        logger.info("%s ← RemoteStartTransaction %s on connector %s: %s", self.id, id_tag,
                    connector_id or "any", status)
        if status == "Accepted":
            assert n is not None
            if charging_profile:
                profile = _camel(charging_profile)
                profile["_connector_id"] = n
                self.charging_profiles[int(profile.get("chargingProfileId", 0))] = profile
            reservation = self.connectors[n].reservation
            self._pending_remote_start = (n, id_tag, reservation.get("reservationId") if reservation else None)
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, id_tag: str, **_: Any) -> None:
        pending, self._pending_remote_start = self._pending_remote_start, None
        if pending is None or pending[1] != id_tag:
            return
        n, tag, reservation_id = pending
        if self.config_bool("AuthorizeRemoteTxRequests"):
            if await self.authorize(tag) != "Accepted":
                return
        # A remote session charges until it is stopped (remotely, or by a reset/unlock).
        self.start_session(n, tag, reservation_id=reservation_id, duration_s=None)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        for state in self.connectors.values():
            if state.session is not None and state.session.transaction_id == transaction_id:
                self.request_stop(state.session, "Remote")
                logger.info("%s ← RemoteStopTransaction %s: Accepted", self.id, transaction_id)
                return call_result.RemoteStopTransaction(status="Accepted")
        logger.info("%s ← RemoteStopTransaction %s: Rejected (no such transaction)", self.id, transaction_id)
        return call_result.RemoteStopTransaction(status="Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:  # noqa: A002 (the OCPP field name)
        logger.info("%s ← Reset %s: Accepted", self.id, type)
        self.reset_requested = type
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str, **_: Any) -> None:  # noqa: A002
        await asyncio.sleep(0.2)
        await self.stop_all_sessions("HardReset" if type == "Hard" else "SoftReset")
        logger.info("%s: rebooting", self.id)
        self.reconnect_now.set()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        state = self.connectors.get(connector_id)
        if state is None:
            status = "NotSupported"
        else:
            status = "Unlocked"
            if state.session is not None:
                self.request_stop(state.session, "UnlockCommand")
        logger.info("%s ← UnlockConnector %s: %s", self.id, connector_id, status)
        return call_result.UnlockConnector(status=status)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> call_result.ChangeAvailability:  # noqa: A002
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.ChangeAvailability(status="Rejected")
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        operative = type == "Operative"
        status = "Accepted"
        changed: list[int] = []
        for state in targets:
            if not operative and state.session is not None:
                state.pending_unavailable = True  # after the session ends
                status = "Scheduled"
            elif state.operative != operative:
                state.operative = operative
                changed.append(state.connector_id)
        if connector_id == 0:
            self.charger_operative = operative
        self._availability_changes = (changed, operative, connector_id == 0)
        logger.info("%s ← ChangeAvailability connector %s %s: %s", self.id, connector_id, type, status)
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    async def after_change_availability(self, **_: Any) -> None:
        (changed, operative, whole), self._availability_changes = self._availability_changes, ([], True, False)
        if whole:
            await self.status(0)
        for n in changed:
            await self.status(n, "Available" if operative else "Unavailable")

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None, **_: Any) -> call_result.ReserveNow:
        if connector_id == 0:
            status = "Rejected"  # ReserveConnectorZeroSupported is false
            state = None
        else:
            state = self.connectors.get(connector_id)
            if state is None:
                status = "Rejected"
            elif state.status == "Faulted":
                status = "Faulted"
            elif not state.operative:
                status = "Unavailable"
            elif state.session is not None:
                status = "Occupied"
            elif state.reservation is not None and state.reservation["reservationId"] != reservation_id:
                status = "Rejected"
            else:
                status = "Accepted"
                state.reservation = {"reservationId": reservation_id, "idTag": id_tag, "expiryDate": expiry_date}
        self._reserved = connector_id if status == "Accepted" else None
        logger.info("%s ← ReserveNow %s connector %s for %s until %s: %s", self.id, reservation_id, connector_id,
                    id_tag, expiry_date, status)
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    async def after_reserve_now(self, **_: Any) -> None:
        n, self._reserved = self._reserved, None
        if n:
            await self.status(n, "Reserved")

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        self._cancelled = None
        for state in self.connectors.values():
            if state.reservation and state.reservation["reservationId"] == reservation_id:
                state.reservation = None
                self._cancelled = state.connector_id
                logger.info("%s ← CancelReservation %s: Accepted", self.id, reservation_id)
                return call_result.CancelReservation(status="Accepted")
        logger.info("%s ← CancelReservation %s: Rejected (unknown)", self.id, reservation_id)
        return call_result.CancelReservation(status="Rejected")

    @after(Action.cancel_reservation)
    async def after_cancel_reservation(self, **_: Any) -> None:
        n, self._cancelled = self._cancelled, None
        if n and self.connectors[n].session is None:
            await self.status(n, "Available")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        supported = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                     "DiagnosticsStatusNotification", "FirmwareStatusNotification"}
        if requested_message not in supported:
            status = "NotImplemented"
        elif connector_id is not None and connector_id != 0 and connector_id not in self.connectors:
            status = "Rejected"
        else:
            status = "Accepted"
        logger.info("%s ← TriggerMessage %s: %s", self.id, requested_message, status)
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None,
                                    **_: Any) -> None:
        if requested_message == "BootNotification":
            await self.boot()
        elif requested_message == "Heartbeat":
            await self.send_call(call.Heartbeat())
        elif requested_message == "StatusNotification":
            if connector_id is None:
                await self.report_all_statuses()
            elif connector_id == 0 or connector_id in self.connectors:
                await self.status(connector_id)
        elif requested_message == "MeterValues":
            for n, state in self.connectors.items():
                if connector_id not in (None, 0, n):
                    continue
                session = state.session
                power = 0.0
                sample = state.meter.read(vehicle=session.vehicle if session else None, power_w=power,
                                          limit_w=self.limit_w(n, session.transaction_id if session else None))
                await self.send_meter_values(n, sample, context="Trigger",
                                             transaction_id=session.transaction_id if session else None)
        elif requested_message == "DiagnosticsStatusNotification":
            await self.send_call(call.DiagnosticsStatusNotification(status="Idle"))
        elif requested_message == "FirmwareStatusNotification":
            await self.send_call(call.FirmwareStatusNotification(status="Idle"))

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        profile = _camel(cs_charging_profiles)
        purpose = profile.get("chargingProfilePurpose")
        status = "Accepted"
        if connector_id != 0 and connector_id not in self.connectors:
            status = "Rejected"
        elif purpose == "TxProfile":
            session = self.connectors[connector_id].session if connector_id in self.connectors else None
            if session is None:
                status = "Rejected"  # a TxProfile needs a transaction in progress
        elif purpose == "ChargePointMaxProfile" and connector_id != 0:
            status = "Rejected"
        if status == "Accepted":
            profile["_connector_id"] = connector_id
            self.charging_profiles[int(profile["chargingProfileId"])] = profile
        logger.info("%s ← SetChargingProfile %s on connector %s (%s): %s", self.id,
                    profile.get("chargingProfileId"), connector_id, purpose, status)
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,  # noqa: A002
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        removed = [
            pid for pid, p in self.charging_profiles.items()
            if (id is None or pid == id)
            and (connector_id is None or p.get("_connector_id") == connector_id)
            and (charging_profile_purpose is None or p.get("chargingProfilePurpose") == charging_profile_purpose)
            and (stack_level is None or p.get("stackLevel") == stack_level)
        ]
        for pid in removed:
            del self.charging_profiles[pid]
        status = "Accepted" if removed else "Unknown"
        logger.info("%s ← ClearChargingProfile: %s (%s removed)", self.id, status, len(removed))
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        session = self.connectors[connector_id].session if connector_id in self.connectors else None
        limit_w = self.limit_w(connector_id or 1, session.transaction_id if session else None)
        unit = charging_rate_unit or "W"
        limit = limit_w if unit == "W" else limit_w / (3 * NOMINAL_VOLTAGE_V)
        logger.info("%s ← GetCompositeSchedule connector %s: %.1f %s", self.id, connector_id, limit, unit)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=utc_now(),
            charging_schedule={"duration": duration, "chargingRateUnit": unit,
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(limit, 1)}]},
        )

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None,
                         **_: Any) -> call_result.DataTransfer:
        self.data_transfers.append({"vendorId": vendor_id, "messageId": message_id, "data": data})
        if vendor_id != self.config.vendor:
            status = "UnknownVendorId"
            reply = None
        else:
            status = "Accepted"
            reply = data
        logger.info("%s ← DataTransfer %s/%s: %s", self.id, vendor_id, message_id, status)
        return call_result.DataTransfer(status=status, data=reply)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        logger.info("%s ← ClearCache: Accepted", self.id)
        return call_result.ClearCache(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        logger.info("%s ← GetLocalListVersion: %s", self.id, self.local_list_version)
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **_: Any) -> call_result.SendLocalList:
        entries = local_authorization_list or []
        if update_type == "Full":
            self.local_list = {}
        elif list_version <= self.local_list_version:
            logger.info("%s ← SendLocalList %s (%s): VersionMismatch", self.id, list_version, update_type)
            return call_result.SendLocalList(status="VersionMismatch")
        for entry in entries:
            tag = entry.get("id_tag") or entry.get("idTag")
            info = entry.get("id_tag_info") or entry.get("idTagInfo")
            if info is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = info
        self.local_list_version = list_version
        logger.info("%s ← SendLocalList %s (%s, %s entries): Accepted", self.id, list_version, update_type,
                    len(entries))
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        name = f"diagnostics-{self.id}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.log"
        logger.info("%s ← GetDiagnostics to %s: %s", self.id, location, name)
        return call_result.GetDiagnostics(file_name=name)

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, **_: Any) -> None:
        # The simulator uploads nothing; it reports the statuses a real upload goes through.
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(1)
            logger.info("%s → DiagnosticsStatusNotification %s", self.id, status)
            await self.send_call(call.DiagnosticsStatusNotification(status=status))

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> call_result.UpdateFirmware:
        logger.info("%s ← UpdateFirmware from %s at %s", self.id, location, retrieve_date)
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location: str, **_: Any) -> None:
        # Nothing is downloaded; the statuses are those of a real update, then a reboot.
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await asyncio.sleep(1)
            logger.info("%s → FirmwareStatusNotification %s", self.id, status)
            await self.send_call(call.FirmwareStatusNotification(status=status))
        major, _sep, minor = self.firmware_version.rpartition(".")
        self.firmware_version = f"{major}.{int(minor) + 1}" if minor.isdigit() and major else self.firmware_version
        await self.stop_all_sessions("Reboot")
        self.reconnect_now.set()


def _camel(data: Any) -> Any:
    """Undo the ``ocpp`` library's snake_case translation of nested payloads."""
    if isinstance(data, dict):
        return {_camel_key(k): _camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_camel(v) for v in data]
    return data


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- Running it ----------------------------------------------------------------------------------


def basic_auth_header(charge_point_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def run_simulator(config: SimulatorConfig, stop: asyncio.Event | None = None,
                        *, on_ready: Callable[[SimulatedChargePoint], None] | None = None) -> SimulatedChargePoint:
    """Connect, boot, heartbeat, run the local sessions; reconnect when the socket drops.

    Returns when ``stop`` is set (Ctrl-C), or when the local sessions are done (unless
    ``config.stay``). Active sessions are stopped cleanly before the socket closes.
    """
    stop = stop or asyncio.Event()
    cp = SimulatedChargePoint(config)
    if on_ready is not None:
        on_ready(cp)
    headers = basic_auth_header(config.charge_point_id, config.password) if config.password else None
    backoff = 1.0
    sessions_task: asyncio.Task[None] | None = None
    finished = asyncio.Event()

    async def run_local_sessions() -> None:
        await cp.booted.wait()
        for i in range(config.sessions):
            connector_id = 1 + i % config.connectors
            await cp.local_session(connector_id, config.id_tag, config.session_seconds)
            if i + 1 < config.sessions:
                await asyncio.sleep(config.pause_seconds)
        if not config.stay:
            finished.set()

    while not stop.is_set() and not finished.is_set():
        cp.reconnect_now.clear()
        cp.booted.clear()
        try:
            logger.info("%s: connecting to %s", cp.id, config.endpoint)
            async with websockets.connect(config.endpoint, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                          additional_headers=headers, open_timeout=15) as ws:
                backoff = 1.0
                cp._connection = ws
                logger.info("%s: connected (subprotocol %s)", cp.id, ws.subprotocol)
                reader = asyncio.ensure_future(cp.start())
                try:
                    await cp.boot()
                    await cp.report_all_statuses()
                    heartbeats = cp.spawn(cp.heartbeat_loop())
                    if sessions_task is None and config.sessions > 0:
                        sessions_task = cp.spawn(run_local_sessions())
                    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, finished, cp.reconnect_now)]
                    done, _pending = await asyncio.wait([reader, *waiters], return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
                    heartbeats.cancel()
                    if reader in done and reader.exception() is not None:
                        raise reader.exception()  # type: ignore[misc]
                    if stop.is_set() or finished.is_set():
                        await cp.stop_all_sessions("Local")
                finally:
                    reader.cancel()
                    with contextlib.suppress(BaseException):
                        await reader
        except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, Disconnected,
                asyncio.TimeoutError) as exc:
            if stop.is_set() or finished.is_set():
                break
            if isinstance(exc, websockets.InvalidStatus):
                logger.error("%s: the CSMS refused the connection (HTTP %s)", cp.id, exc.response.status_code)
            else:
                logger.warning("%s: connection lost (%s)", cp.id, exc or type(exc).__name__)
            if not config.reconnect:
                raise
            logger.info("%s: reconnecting in %.0f s", cp.id, backoff)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, 30.0)
        finally:
            cp._connection = None
    for task in list(cp.tasks):
        task.cancel()
    logger.info("%s: stopped (%s sessions)", cp.id, cp.sessions_done)
    return cp


def install_signal_handlers(stop: asyncio.Event) -> None:
    """First Ctrl-C: stop cleanly (end sessions, close the socket). Second: quit at once."""
    import signal

    loop = asyncio.get_running_loop()

    def handler() -> None:
        if stop.is_set():
            raise SystemExit(130)
        logger.info("stopping (Ctrl-C again to quit at once)")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, handler)


__all__ = ["Meter", "MeterSample", "SimulatedChargePoint", "SimulatorConfig", "Vehicle", "run_simulator",
           "install_signal_handlers", "utc_now"]
