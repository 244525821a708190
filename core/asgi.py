"""Django's ASGI handler, with the middleware and the view in one thread hop."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse


class OneHopASGIHandler(ASGIHandler):
    """Runs the whole middleware chain and the view in the request's thread, in one hop.

    Django's own ASGI handler builds an async chain: the sync-only middleware (WhiteNoise, ours)
    hops to a thread, the async-capable ones below hop back to the event loop, each of their
    hooks hops to the thread again, and so does the view. Every view here is synchronous (DRF,
    the admin, the pages), so one hop serves a request: measured on the remote-control round
    trip, where the API's part was a third of the time.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponse:
        response: Any = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response
