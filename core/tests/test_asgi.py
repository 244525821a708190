"""The ASGI handler runs the middleware chain and the view in one thread hop."""

import asyncio
import threading

import pytest
from channels.testing import HttpCommunicator
from django.http import HttpResponse
from django.urls import path

from core.asgi import OneHopASGIHandler

seen: list[str] = []
HOST = [(b"host", b"localhost")]


class ThreadNoting:
    """A sync-only middleware noting the thread it runs on (as WhiteNoise and ours are)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        seen.append(f"middleware {threading.get_ident()}")
        return self.get_response(request)


def view(request):
    seen.append(f"view {threading.get_ident()}")
    return HttpResponse("ok")


together = threading.Barrier(2, timeout=5)


def meeting_view(request):
    """Returns only once another request is in it too: one thread serving both would time out."""
    together.wait()
    seen.append(f"view {threading.get_ident()}")
    return HttpResponse("ok")


urlpatterns = [path("here/", view), path("together/", meeting_view)]


@pytest.fixture
def one_hop(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.ThreadNoting"]
    seen.clear()
    return OneHopASGIHandler()


@pytest.mark.django_db(transaction=True)
async def test_middleware_and_view_share_the_request_thread(one_hop) -> None:
    assert not asyncio.iscoroutinefunction(one_hop._middleware_chain)  # no hop back to the loop
    response = await HttpCommunicator(one_hop, "GET", "/here/", headers=HOST).get_response(timeout=10)
    assert response["status"] == 200 and response["body"] == b"ok"
    (middleware, middleware_thread), (viewed, view_thread) = (entry.split() for entry in seen)
    assert (middleware, viewed) == ("middleware", "view")
    assert middleware_thread == view_thread != str(threading.get_ident())


@pytest.mark.django_db(transaction=True)
async def test_the_project_serves_http_through_it() -> None:
    from csms.asgi import django_asgi_app

    assert isinstance(django_asgi_app, OneHopASGIHandler)
    response = await HttpCommunicator(django_asgi_app, "GET", "/api/v1/no-such-thing/", headers=HOST).get_response(timeout=20)
    assert response["status"] == 404


@pytest.mark.django_db(transaction=True)
async def test_a_request_thread_serves_one_request_at_a_time_and_is_reused(one_hop) -> None:
    async def get() -> None:
        response = await HttpCommunicator(one_hop, "GET", "/here/", headers=HOST).get_response(timeout=10)
        assert response["status"] == 200

    await get()
    await asyncio.sleep(0.05)  # the thread goes back to the idle ones once done
    await get()
    first, second = seen[1].split()[1], seen[3].split()[1]
    assert first == second  # the same thread, not a new one per request
    # Requests at the same time each get a thread of their own.
    await asyncio.sleep(0.05)
    seen.clear()
    together.reset()
    responses = await asyncio.gather(*(
        HttpCommunicator(one_hop, "GET", "/together/", headers=HOST).get_response(timeout=10) for _ in range(2)))
    assert [r["status"] for r in responses] == [200, 200]
    assert len({entry.split()[1] for entry in seen if entry.startswith("view")}) == 2
    await asyncio.sleep(0.05)
    assert len(one_hop._idle_threads) == 2  # both kept for the next requests


@pytest.mark.django_db(transaction=True)
async def test_request_signals_run_on_the_request_thread(one_hop) -> None:
    from django.core import signals

    def started(**kwargs):
        assert kwargs["scope"]["path"] == "/here/"
        seen.append(f"started {threading.get_ident()}")

    def finished(**kwargs):
        seen.append(f"finished {threading.get_ident()}")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        communicator = HttpCommunicator(one_hop, "GET", "/here/", headers=HOST)
        response = await communicator.get_response(timeout=10)
        await communicator.wait(timeout=10)  # the response is closed (request_finished) after it is sent
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert response["status"] == 200
    names = [entry.split()[0] for entry in seen]
    assert names == ["started", "middleware", "view", "finished"]
    assert len({entry.split()[1] for entry in seen}) == 1  # all on the request's thread
