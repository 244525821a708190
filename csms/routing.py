"""WebSocket routes. Chargers send no Origin header, so only the browser routes check it."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from dashboard.consumers import DashboardConsumer
from notifications.consumers import NotificationConsumer
from stations.protocol.consumer import OcppConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/dashboard/$", AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi()))),
    # Apps send no Origin; the consumer checks a browser's Origin itself (session or ?token=).
    re_path(r"^ws/notifications/$", AuthMiddlewareStack(NotificationConsumer.as_asgi())),
    # Chargers: no origin check; the consumer validates the id, subprotocol and Basic auth.
    re_path(r"^ocpp/(?P<charge_point_id>.*?)/?$", OcppConsumer.as_asgi()),
]
