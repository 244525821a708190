"""Django's ASGI handler, with the middleware and the view in one thread hop, on a reused thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest, HttpResponse
from django.urls import set_script_prefix

# Request threads waiting for their next request (see ``OneHopASGIHandler.__call__``).
IDLE_THREADS_KEPT = 32


class OneHopASGIHandler(ASGIHandler):
    """Runs the whole middleware chain and the view in the request's thread, in one hop.

    Django's own ASGI handler builds an async chain: the sync-only middleware (WhiteNoise, ours)
    hops to a thread, the async-capable ones below hop back to the event loop, each of their
    hooks hops to the thread again, and so does the view. Every view here is synchronous (DRF,
    the admin, the pages), so one hop serves a request: measured on the remote-control round
    trip, where the API's part was a third of the time.

    ``request_started`` is sent in that hop too (Django sends it in a hop of its own first).
    Each request still has a thread of its own for its synchronous parts (signals, middleware,
    view, closing the response: Django's thread-sensitive mode, so its database connection is
    opened and given back on one thread), but the thread is reused: Django starts a new one per
    request (``ThreadSensitiveContext()``), about half a millisecond each on the project's machine.
    """

    def __init__(self) -> None:
        super().__init__()
        self._idle_threads: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._idle_threads.pop() if self._idle_threads else ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="http-request")
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            # Back to the idle threads once it has finished all it was given (a view whose
            # client went away still runs to its end).
            loop = asyncio.get_running_loop()
            thread.submit(loop.call_soon_threadsafe, self._thread_idle, thread)

    def _thread_idle(self, thread: ThreadPoolExecutor) -> None:
        if len(self._idle_threads) < IDLE_THREADS_KEPT:
            self._idle_threads.append(thread)
        else:
            thread.shutdown(wait=False)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's ``handle`` (5.2), with ``request_started`` sent in the request's one hop
        (``_respond``) rather than in a hop of its own before it."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await sync_to_async(signals.request_started.send, thread_sensitive=True)(
                sender=self.__class__, scope=scope)
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request: HttpRequest, send: Any) -> HttpResponse:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the response was being sent
            return response

        # As Django does: a client that goes away while the view runs ends the request.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(response.close)()
        body_file.close()

    async def get_response_async(self, request: HttpRequest) -> HttpResponse:
        response: Any = await sync_to_async(self._respond, thread_sensitive=True)(request)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponse:
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        return self.get_response(request)
