"""Show times in the operator's time zone (``User.time_zone``, else ``settings.TIME_ZONE``) and
pages in the user's language (``User.language``) unless the language switcher chose another."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation


def user_time_zone(user: object) -> zoneinfo.ZoneInfo:
    name = getattr(user, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class OperatorTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if request.path.startswith("/api/"):
            # The API speaks UTC with a Z (CONTRACT.md), whoever asks and however they log in.
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        elif user is not None and user.is_authenticated:
            timezone.activate(user_time_zone(user))
            language = getattr(user, "language", "")
            if (language in dict(settings.LANGUAGES)
                    and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES):
                translation.activate(language)
                request.LANGUAGE_CODE = language
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
