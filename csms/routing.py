"""WebSocket routes. Chargers send no Origin header, so only the browser routes check it."""

from django.urls import re_path

websocket_urlpatterns: list = [
    # stations.protocol.consumer.OcppConsumer at ocpp/<charge_point_id> (added by the endpoint)
]
