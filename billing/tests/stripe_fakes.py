"""Stripe as the tests see it: a fake HTTP client for the outgoing API calls, and signed webhooks.

The webhook signature is computed as Stripe documents it: ``Stripe-Signature: t=<unix time>,v1=<hex>``
where ``hex = HMAC-SHA256(endpoint secret, "<t>.<raw body>")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

import stripe

WEBHOOK_SECRET = "whsec_test_secret"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(event_type: str, obj: dict[str, Any], event_id: str = "evt_1") -> bytes:
    """An event as Stripe posts it (API version 2025-xx, test mode)."""
    return json.dumps({
        "id": event_id,
        "object": "event",
        "api_version": "2025-08-27.basil",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }).encode()


class FakeStripeHTTP(stripe.HTTPClient):
    """Answers the Stripe API calls billing makes, records them; nothing leaves the machine."""

    name = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None) -> tuple[str, int, dict[str, str]]:
        path = url.split("api.stripe.com", 1)[-1]
        form = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        self.requests.append((method, path, form))
        if path == "/v1/checkout/sessions":
            body = {"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_1",
                    "amount_total": int(form["line_items[0][price_data][unit_amount]"][0]), "payment_status": "unpaid"}
        elif path == "/v1/payment_intents":
            body = {"id": "pi_test_1", "object": "payment_intent", "client_secret": "pi_test_1_secret_abc",
                    "status": "requires_payment_method", "amount": int(form["amount"][0]), "capture_method": "manual"}
        elif path.endswith("/capture"):
            body = {"id": path.split("/")[3], "object": "payment_intent", "status": "succeeded",
                    "amount_received": int(form["amount_to_capture"][0])}
        elif path.endswith("/cancel"):
            body = {"id": path.split("/")[3], "object": "payment_intent", "status": "canceled"}
        else:
            return json.dumps({"error": {"type": "invalid_request_error", "message": "unknown"}}), 404, {}
        return json.dumps(body), 200, {"request-id": "req_fake"}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def paths(self) -> list[str]:
        return [path for _method, path, _form in self.requests]


class FakeStripeServer:
    """The fake Stripe API on a local port, for server processes the test cannot patch.

    Point them at it with ``STRIPE_API_BASE=<url>``; ``http.requests`` records what they asked.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.http = FakeStripeHTTP()
        fake = self.http

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content, status, _headers = fake.request("post", "https://api.stripe.com" + self.path, dict(self.headers), body)
                data = content.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
