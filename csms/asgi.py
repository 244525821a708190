"""HTTP and WebSocket on one port: ``csms.asgi:application``."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

from core.asgi import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from csms.routing import websocket_urlpatterns  # noqa: E402

from core.gcpolicy import policy as gc_policy  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# Loaded before the first connection, not in its handshake: the channel layer's modules (redis,
# channels_redis: 4 % of the server's time in a boot storm of 5,000 chargers, on the event loop
# while the storm's handshakes waited); then what start-up made is frozen and the collector tuned
# for thousands of connections.
get_channel_layer()
gc_policy.tune()
