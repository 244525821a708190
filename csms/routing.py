"""WebSocket routes. Chargers send no Origin header, so only the browser routes check it."""

from django.urls import re_path

from stations.protocol.consumer import OcppConsumer

websocket_urlpatterns: list = [
    # Chargers: no origin check; the consumer validates the id, subprotocol and Basic auth.
    re_path(r"^ocpp/(?P<charge_point_id>.*?)/?$", OcppConsumer.as_asgi()),
]
