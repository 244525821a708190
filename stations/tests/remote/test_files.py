"""The diagnostics upload and firmware download endpoints (signed, expiring URLs)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from stations.files import diagnostics_upload_url, firmware_download_url
from stations.models import DiagnosticsFile, FirmwareFile
from stations.tests.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def _path(url: str) -> str:
    return urlparse(url).path


def test_a_charger_uploads_diagnostics_with_a_multipart_post(client: Client) -> None:
    station = StationFactory()
    url = _path(diagnostics_upload_url(station=station))
    response = client.post(url, {"file": ContentFile(b"log line\n", name="diag-2026.log")})
    assert response.status_code == 201
    stored = DiagnosticsFile.objects.get(station=station)
    assert stored.file.read() == b"log line\n"
    assert stored.file.name.endswith("diag-2026.log")
    station.refresh_from_db()
    assert station.diagnostics_status == "Uploaded"


def test_a_charger_uploads_diagnostics_with_a_raw_put_and_its_file_name_in_the_path(client: Client) -> None:
    station = StationFactory()
    url = _path(diagnostics_upload_url(station=station)) + "evil name.zip"
    response = client.put(url, data=b"PK\x03\x04", content_type="application/zip")
    assert response.status_code == 201
    assert DiagnosticsFile.objects.get(station=station).file.name.endswith("evil_name.zip")


def test_a_forged_or_expired_upload_url_is_refused(client: Client) -> None:
    station = StationFactory()
    url = _path(diagnostics_upload_url(station=station))
    assert client.post(url.replace("/diagnostics/", "/diagnostics/x"), data=b"x",
                       content_type="text/plain").status_code == 403
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert client.post(url, data=b"x", content_type="text/plain").status_code == 410
    assert not DiagnosticsFile.objects.exists()


def test_a_charger_downloads_firmware_from_its_signed_url(client: Client) -> None:
    firmware = FirmwareFile(name="v2")
    firmware.file.save("fw-2.0.bin", ContentFile(b"\x00firmware"), save=True)
    url = firmware_download_url(firmware=firmware)
    assert url.startswith("http") and url.endswith(".bin")
    response = client.get(_path(url))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x00firmware"
    assert client.get(_path(url).replace("/firmware/", "/firmware/x")).status_code == 403
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert client.get(_path(url)).status_code == 410
