"""The CSMS's own file endpoints for chargers, so no external FTP server is needed.

- Diagnostics upload: GetDiagnostics gets ``location`` = a signed, expiring URL; the charger uploads
  the file there with HTTP POST (multipart or a raw body) or PUT; it is stored as ``DiagnosticsFile``.
- Firmware download: UpdateFirmware gets ``location`` = a signed, expiring URL of a ``FirmwareFile``
  an operator uploaded.

Chargers authenticate with nothing but the URL, so the token carries the station (or file) and its
issue time, signed with ``SECRET_KEY`` (``django.core.signing``), and expires.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from stations.models import DiagnosticsFile, FirmwareFile, Station

DIAGNOSTICS_SALT = "stations.files.diagnostics"
FIRMWARE_SALT = "stations.files.firmware"
DIAGNOSTICS_URL_MAX_AGE = getattr(settings, "CSMS_DIAGNOSTICS_URL_MAX_AGE", 24 * 3600)
FIRMWARE_URL_MAX_AGE = getattr(settings, "CSMS_FIRMWARE_URL_MAX_AGE", 7 * 24 * 3600)
MAX_DIAGNOSTICS_BYTES = 50 * 1024 * 1024

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _absolute(url_path: str) -> str:
    return settings.CSMS_PUBLIC_URL.rstrip("/") + url_path


def diagnostics_upload_url(*, station: Station) -> str:
    token = signing.dumps({"s": station.pk}, salt=DIAGNOSTICS_SALT, compress=True)
    return _absolute(reverse("diagnostics-upload", args=[token]))


def firmware_download_url(*, firmware: FirmwareFile) -> str:
    token = signing.dumps({"f": firmware.pk}, salt=FIRMWARE_SALT, compress=True)
    name = PurePosixPath(firmware.file.name).name or "firmware.bin"
    return _absolute(reverse("firmware-download", args=[token, name]))


def _safe_name(name: str, default: str) -> str:
    name = _SAFE_NAME.sub("_", PurePosixPath(name.replace("\\", "/")).name).strip("._")
    return name[:100] or default


def diagnostics_store(*, station: Station, name: str, content: bytes) -> DiagnosticsFile:
    diagnostics = DiagnosticsFile(station=station, status="Uploaded", created_at=timezone.now())
    diagnostics.file.save(f"{station.pk}/{_safe_name(name, 'diagnostics.log')}", ContentFile(content), save=False)
    diagnostics.save()
    Station.objects.filter(pk=station.pk).update(diagnostics_status="Uploaded")
    return diagnostics


@csrf_exempt
@require_http_methods(["POST", "PUT"])
def diagnostics_upload(request: HttpRequest, token: str, filename: str = "") -> HttpResponse:
    try:
        data = signing.loads(token, salt=DIAGNOSTICS_SALT, max_age=DIAGNOSTICS_URL_MAX_AGE)
    except signing.SignatureExpired:
        return HttpResponse("expired\n", status=410, content_type="text/plain")
    except signing.BadSignature:
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    station = Station.objects.filter(pk=data.get("s")).first()
    if station is None:
        return HttpResponse("gone\n", status=410, content_type="text/plain")
    if int(request.headers.get("Content-Length") or 0) > MAX_DIAGNOSTICS_BYTES:
        return HttpResponse("too large\n", status=413, content_type="text/plain")
    if request.method == "POST" and request.FILES:
        upload = next(iter(request.FILES.values()))
        name, content = upload.name or filename, upload.read()
    else:
        # A raw body (PUT, or POST without multipart): the name from the URL or the header.
        disposition = request.headers.get("Content-Disposition", "")
        match = re.search(r'filename="?([^";]+)"?', disposition)
        name, content = filename or (match.group(1) if match else ""), request.body
    if not content:
        return HttpResponseBadRequest("empty\n", content_type="text/plain")
    diagnostics_store(station=station, name=name, content=content)
    return HttpResponse("ok\n", status=201, content_type="text/plain")


@require_http_methods(["GET", "HEAD"])
def firmware_download(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    try:
        data = signing.loads(token, salt=FIRMWARE_SALT, max_age=FIRMWARE_URL_MAX_AGE)
    except signing.SignatureExpired:
        return HttpResponse("expired\n", status=410, content_type="text/plain")
    except signing.BadSignature:
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    firmware = FirmwareFile.objects.filter(pk=data.get("f")).first()
    if firmware is None or not firmware.file:
        return HttpResponse("gone\n", status=410, content_type="text/plain")
    response = FileResponse(firmware.file.open("rb"), as_attachment=True,
                            filename=PurePosixPath(firmware.file.name).name)
    if firmware.sha256:
        response["X-Checksum-Sha256"] = firmware.sha256
    return response


def firmware_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


urlpatterns = [
    path("diagnostics/<str:token>/", diagnostics_upload, name="diagnostics-upload"),
    path("diagnostics/<str:token>/<str:filename>", diagnostics_upload, name="diagnostics-upload-named"),
    path("firmware/<str:token>/<str:filename>", firmware_download, name="firmware-download"),
]
