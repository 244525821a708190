"""HTTP and WebSocket on one port: ``csms.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from csms.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


def _tune_garbage_collector() -> None:
    """Keep the collector off the start-up heap and make young collections rarer.

    Thousands of charger connections allocate many small objects; with the default threshold
    (700) the collector runs constantly and each full pass walks all of Django's long-lived
    objects, which pushed p99 latency with 5,000 chargers to 0.6-1.2 s. Freezing what start-up
    built (gc.freeze) and a higher first threshold bring it back to milliseconds
    (see "Benchmarks" in README.md). CSMS_GC_THRESHOLD=0 leaves Python's defaults.
    """
    import gc

    threshold = int(os.environ.get("CSMS_GC_THRESHOLD", "50000"))
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)


_tune_garbage_collector()
