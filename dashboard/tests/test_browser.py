"""The live pages in real headless Chromium against a live daphne, with a real OCPP charger.

The charger is the ``ocpp`` library's v16 ChargePoint over ``websockets``, connected to the same
daphne as the browser; what it sends must reach the open page over /ws/dashboard/ without a reload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.v16 import ChargePoint, call
from playwright.async_api import Browser, Page, async_playwright, expect

from accounts.models import Role
from accounts.tests.factories import IdTagFactory, UserFactory
from stations.models import Station
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.tests.factories import TransactionFactory

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "operator-pass-123"
SCREENSHOTS = Path(os.environ.get("CSMS_SCREENSHOT_DIR", "/tmp/csms-screenshots"))
TIMEOUT_MS = 15_000
# Two shared cores on CI: give pushed updates time to arrive (a missing update still fails).
expect.set_options(timeout=TIMEOUT_MS)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Charger(ChargePoint):
    """A charger that only sends: the CSMS's answers are what the test reads."""


@pytest.fixture
def scene(start_daphne: Callable[..., str]) -> dict[str, Any]:
    """An operator, a station near Genoa with one free connector, an id tag, a live daphne."""
    operator = UserFactory(email="op@example.com", role=Role.ADMIN, password=PASSWORD)
    station = StationFactory(charge_point_id="CP-LIVE", name="Genoa harbour",
                             latitude=Decimal("44.409730"), longitude=Decimal("8.937683"))
    ConnectorFactory(station=station, connector_id=1)
    tag = IdTagFactory(id_tag="LIVETAG1", user=UserFactory(email="driver@example.com"))
    return {"host": start_daphne(), "operator": operator, "station": station, "tag": tag.id_tag}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield b
        await b.close()


@pytest.fixture
async def charger_factory() -> AsyncIterator[Callable[..., Any]]:
    opened: list[tuple[Any, asyncio.Task[None]]] = []

    async def connect(host: str, charge_point_id: str) -> Charger:
        ws = await websockets.connect(f"ws://{host}/ocpp/{charge_point_id}", subprotocols=["ocpp1.6"])
        cp = Charger(charge_point_id, ws)
        opened.append((ws, asyncio.create_task(cp.start())))
        boot = await cp.call(call.BootNotification(charge_point_vendor="ACME", charge_point_model="Wallbox 22"))
        assert boot.status == "Accepted"
        return cp

    yield connect
    for ws, task in opened:
        await ws.close()
        task.cancel()


async def login(browser: Browser, host: str, path: str) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    # Script errors are printed with the test's output (shown when it fails).
    page.on("pageerror", lambda exc: print(f"page error: {exc}"))
    page.on("console", lambda msg: print(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    await page.goto(f"http://{host}/dashboard/login/?next={path}")
    await page.fill("#id_username", "op@example.com")
    await page.fill("#id_password", PASSWORD)
    await page.click("button[type=submit].primary")
    await page.wait_for_url(f"http://{host}{path}")
    # The live socket is open: from here on, every change must arrive without a reload.
    await expect(page.locator("body")).to_have_attribute("data-live", "on")
    return page


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def start_charging(cp: Charger, tag: str, at: str | None = None) -> int:
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing", timestamp=now_iso()))
    started = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=1000,
                                                  timestamp=at or now_iso()))
    assert started.id_tag_info["status"] == "Accepted"
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging", timestamp=now_iso()))
    return int(started.transaction_id)


async def send_meter(cp: Charger, transaction_id: int, *, energy_wh: int, power_w: int, soc: int,
                     at: str | None = None) -> None:
    await cp.call(call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[{
        "timestamp": at or now_iso(),
        "sampled_value": [
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(soc), "measurand": "SoC", "unit": "Percent"},
        ],
    }]))


async def test_overview_shows_a_charger_coming_online_and_charging_without_reload(
    scene: dict[str, Any], browser: Browser, charger_factory: Callable[..., Any]
) -> None:
    page = await login(browser, scene["host"], "/dashboard/")
    marker = page.locator('[data-marker="CP-LIVE"]')
    badge = page.locator('tr[data-station="CP-LIVE"] [data-field="status"]')
    tile = page.locator('[data-connector="CP-LIVE/1"]')
    await expect(marker).to_have_attribute("data-status", "unknown")  # never connected: black
    await page.evaluate("window.__notReloaded = true")

    cp = await charger_factory(scene["host"], "CP-LIVE")
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=now_iso()))
    await expect(marker).to_have_attribute("data-status", "available")
    await expect(badge).to_have_text("Available")
    assert await marker.evaluate("el => el.getAttribute('fill')") == "#1a7f37"

    transaction_id = await start_charging(cp, scene["tag"])
    await send_meter(cp, transaction_id, energy_wh=3250, power_w=7400, soc=42)
    await expect(tile.locator('[data-field="status"]')).to_have_text("Charging")
    await expect(tile.locator('[data-field="power"]')).to_have_text("7.4")
    await expect(tile.locator('[data-field="soc"]')).to_have_text("42")
    await expect(tile.locator('[data-field="energy"]')).to_have_text("2.250")
    await expect(tile.locator('[data-field="duration"]')).to_have_text(re.compile(r"^0:0\d:\d\d$"))
    await expect(marker).to_have_attribute("data-status", "occupied")
    assert await marker.evaluate("el => el.getAttribute('fill')") == "#c62828"
    assert await page.evaluate("window.__notReloaded") is True
    await screenshot(page, "overview")


async def test_station_page_draws_the_live_charging_curve(
    scene: dict[str, Any], browser: Browser, charger_factory: Callable[..., Any]
) -> None:
    station: Station = scene["station"]
    cp = await charger_factory(scene["host"], "CP-LIVE")
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=now_iso()))
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    transaction_id = await start_charging(cp, scene["tag"], at=(t0 - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    await send_meter(cp, transaction_id, energy_wh=1500, power_w=11000, soc=30,
                     at=(t0).strftime("%Y-%m-%dT%H:%M:%SZ"))

    page = await login(browser, scene["host"], f"/dashboard/stations/{station.pk}/")
    session = page.locator("#session")
    await expect(session).to_have_attribute("data-transaction", str(transaction_id))
    points = "() => Chart.getChart('curve').data.datasets.map(d => d.data.length)"
    assert await page.evaluate(points) == [1, 1]
    await page.evaluate("window.__notReloaded = true")

    for minute, (energy, power, soc) in enumerate([(2100, 10800, 33), (2700, 10500, 36)], start=1):
        await send_meter(cp, transaction_id, energy_wh=energy, power_w=power, soc=soc,
                         at=(t0 + dt.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    await expect(session.locator('[data-field="energy"]')).to_have_text("1.700")
    await expect(session.locator('[data-field="power"]')).to_have_text("10.5")
    await expect(session.locator('[data-field="soc"]')).to_have_text("36")
    await page.wait_for_function("Chart.getChart('curve').data.datasets[0].data.length === 3")
    assert await page.evaluate(points) == [3, 3]
    assert await page.evaluate("Chart.getChart('curve').data.datasets[1].data.map(p => p.y)") == [0.5, 1.1, 1.7]
    await expect(page.locator('#connectors [data-connector="CP-LIVE/1"] [data-field="status"]')).to_have_text("Charging")
    await expect(page.locator(f'#recent tr[data-transaction="{transaction_id}"] [data-field="energy"]')).to_have_text("1.700")
    assert await page.evaluate("window.__notReloaded") is True
    await screenshot(page, "station")


async def test_report_adds_a_finished_session_live(
    scene: dict[str, Any], browser: Browser, charger_factory: Callable[..., Any]
) -> None:
    year = dt.datetime.now(dt.UTC).year
    page = await login(browser, scene["host"], f"/dashboard/report/?year={year}")
    total = page.locator('#report tr[data-month="total"]')
    sessions_before = int(await total.locator('[data-field="sessions"]').inner_text())
    await page.evaluate("window.__notReloaded = true")

    cp = await charger_factory(scene["host"], "CP-LIVE")
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available", timestamp=now_iso()))
    transaction_id = await start_charging(cp, scene["tag"])
    await send_meter(cp, transaction_id, energy_wh=5000, power_w=7000, soc=50)
    await cp.call(call.StopTransaction(transaction_id=transaction_id, meter_stop=6000, timestamp=now_iso(),
                                       reason="Local", id_tag=scene["tag"]))
    await expect(total.locator('[data-field="sessions"]')).to_have_text(str(sessions_before + 1))
    await expect(total.locator('[data-field="energy"]')).to_have_text("5.000")
    energy = await page.evaluate("Chart.getChart('energy-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)")
    assert energy == pytest.approx(5.0)
    assert await page.evaluate("window.__notReloaded") is True
    await screenshot(page, "report")


@pytest.fixture
def finished_sessions(scene: dict[str, Any]) -> tuple[int, Decimal]:
    """Finished sessions earlier this year; returns their total energy (Wh) and revenue."""
    now = dt.datetime.now(dt.UTC)
    connector = scene["station"].connectors.get()
    energy, revenue = 0, Decimal("0")
    for days_ago, energy_wh, cost in [(1, 12000, "3.60"), (35, 8000, "2.40"), (70, 20000, "6.00")]:
        started = now - dt.timedelta(days=days_ago, hours=3)
        if started.year != now.year:
            continue
        TransactionFactory(connector=connector, started_at=started, stopped=True, energy_wh=energy_wh,
                           cost=Decimal(cost))
        energy, revenue = energy + energy_wh, revenue + Decimal(cost)
    return energy, revenue


async def test_report_shows_the_year_as_charts_and_table(
    scene: dict[str, Any], finished_sessions: tuple[int, Decimal], browser: Browser
) -> None:
    energy_wh, revenue = finished_sessions
    year = dt.datetime.now(dt.UTC).year
    page = await login(browser, scene["host"], f"/dashboard/report/?year={year}")
    total = page.locator('#report tr[data-month="total"]')
    await expect(total.locator('[data-field="energy"]')).to_have_text(f"{energy_wh / 1000:.3f}")
    await expect(total.locator('[data-field="revenue"]')).to_have_text(f"{revenue:.2f}")
    revenue_chart = "Chart.getChart('revenue-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)"
    assert await page.evaluate(revenue_chart) == pytest.approx(float(revenue))
    csv_href = await page.locator("#csv").get_attribute("href")
    assert csv_href is not None and f"year={year}" in csv_href
    await screenshot(page, "report-history")


async def test_admin_station_page_follows_the_charger_live(
    scene: dict[str, Any], browser: Browser, charger_factory: Callable[..., Any]
) -> None:
    station: Station = scene["station"]
    page = await login(browser, scene["host"], "/dashboard/")
    await page.goto(f"http://{scene['host']}/admin/stations/station/{station.pk}/change/")
    await expect(page.locator("body")).to_have_attribute("data-live", "on")
    status_cell = page.locator("tr:has(input[name='connectors-0-connector_id']) td.field-status")
    cp = await charger_factory(scene["host"], "CP-LIVE")
    await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted",
                                          timestamp=now_iso()))
    await expect(status_cell).to_have_text("Faulted")
    await expect(page.locator("#station-live [data-field='connected']")).to_have_text("yes")
    await expect(page.locator(".field-live_status .csms-status")).to_have_text("Faulted")
    await screenshot(page, "admin-station")
