"""The fr, de and it catalogues are complete and compiled."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.BASE_DIR) / "locale"


@pytest.mark.parametrize("lang", ["fr", "de", "it"])
def test_every_message_is_translated(lang: str) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "gettext's msgfmt is needed (Debian package gettext)"
    po = LOCALE / lang / "LC_MESSAGES" / "django.po"
    result = subprocess.run([msgfmt, "--check-format", "--statistics", "-o", "/dev/null", str(po)],
                            capture_output=True, text=True, check=True)
    stats = result.stderr
    assert re.match(r"^\d+ translated messages?\.$", stats.strip()), stats


@pytest.mark.parametrize(("lang", "text"), [("fr", "Vue d'ensemble"), ("de", "Übersicht"), ("it", "Panoramica")])
def test_the_compiled_catalogues_are_used(lang: str, text: str) -> None:
    with translation.override(lang):
        assert translation.gettext("Overview") == text
