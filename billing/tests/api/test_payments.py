"""Top-up by Stripe Checkout and guest charging with a card hold, driven by signed Stripe webhooks.

Only the outgoing HTTP calls to Stripe are faked (FakeStripeHTTP); the webhooks carry Stripe's
documented payloads and ``Stripe-Signature`` header, computed here with HMAC-SHA256.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdTag, IdTagStatus
from accounts.tests.factories import UserFactory
from billing.models import (
    LedgerEntry,
    LedgerKind,
    Payment,
    PaymentStatus,
    ProviderEvent,
)
from billing.providers.stripe import StripeProvider
from billing.services import session_cost_update, session_settle, session_start_pricing
from billing.tests.stripe_fakes import WEBHOOK_SECRET, FakeStripeHTTP, event, sign
from stations.tests.factories import ConnectorFactory, StationFactory
from transactions.models import Transaction

pytestmark = pytest.mark.django_db
WEBHOOK = "/api/v1/billing/webhooks/stripe/"


@pytest.fixture
def stripe_http(settings, monkeypatch) -> FakeStripeHTTP:  # type: ignore[no-untyped-def]
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    fake = FakeStripeHTTP()
    monkeypatch.setattr(StripeProvider, "default_http_client", fake)
    return fake


def post_event(client: APIClient, payload: bytes, signature: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(WEBHOOK, data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature if signature is not None else sign(payload))


def checkout_completed(payment: Payment, event_id: str = "evt_checkout_1") -> bytes:
    return event("checkout.session.completed", {
        "id": payment.provider_ref, "object": "checkout.session", "mode": "payment",
        "client_reference_id": str(payment.pk), "metadata": {"payment": str(payment.pk)},
        "amount_total": int(payment.amount * 100), "currency": "eur",
        "payment_intent": "pi_topup_1", "payment_status": "paid", "status": "complete",
    }, event_id=event_id)


def start_topup(stripe_http: FakeStripeHTTP, amount: str = "20.00"):  # type: ignore[no-untyped-def]
    user = UserFactory(balance=Decimal("0"))
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/billing/topups/", {"amount": amount}, format="json")
    return user, client, response


def test_a_topup_opens_a_checkout_session(stripe_http) -> None:  # type: ignore[no-untyped-def]
    user, _client, response = start_topup(stripe_http)
    assert response.status_code == 201, response.content
    assert response.json()["checkout_url"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    method, path, form = stripe_http.requests[0]
    assert (method, path) == ("post", "/v1/checkout/sessions")
    assert form["line_items[0][price_data][unit_amount]"] == ["2000"]
    assert form["mode"] == ["payment"]
    user.refresh_from_db()
    assert user.balance == Decimal("0")  # nothing until Stripe confirms


def test_a_signed_checkout_completed_credits_the_balance_once(stripe_http) -> None:  # type: ignore[no-untyped-def]
    user, client, _ = start_topup(stripe_http)
    payment = Payment.objects.get(user=user)
    payload = checkout_completed(payment)
    assert post_event(client, payload).json() == {"status": "credited"}
    assert post_event(client, payload).json() == {"status": "duplicate"}  # Stripe retries the same event
    # A second, different event about the same checkout does not credit again either.
    assert post_event(client, checkout_completed(payment, event_id="evt_checkout_2")).json() == {"status": "already credited"}
    user.refresh_from_db()
    assert user.balance == Decimal("20.00")
    entry = LedgerEntry.objects.get(user=user)
    assert (entry.kind, entry.amount, entry.external_ref) == (LedgerKind.TOPUP, Decimal("20.00"), "stripe:cs_test_1")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert ProviderEvent.objects.count() == 2


def test_a_webhook_with_a_wrong_signature_changes_nothing(stripe_http) -> None:  # type: ignore[no-untyped-def]
    user, client, _ = start_topup(stripe_http)
    payload = checkout_completed(Payment.objects.get(user=user))
    assert post_event(client, payload, sign(payload, secret="whsec_someone_else")).status_code == 400
    assert post_event(client, payload, "").status_code == 400
    assert post_event(client, payload, sign(payload, timestamp=int(time.time()) - 3600)).status_code == 400
    assert post_event(client, payload + b" ", sign(payload)).status_code == 400  # body changed after signing
    user.refresh_from_db()
    assert user.balance == Decimal("0")
    assert ProviderEvent.objects.count() == 0


def test_without_stripe_keys_a_topup_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    settings.STRIPE_SECRET_KEY = ""
    _user, _client, response = start_topup(FakeStripeHTTP())
    assert response.status_code == 409
    assert response.json()["code"] == "payments_unavailable"


def test_a_topup_amount_outside_the_limits_is_refused(stripe_http) -> None:  # type: ignore[no-untyped-def]
    _user, _client, response = start_topup(stripe_http, amount="0.50")
    assert response.status_code == 400
    assert "amount" in response.json()["errors"]
    assert stripe_http.requests == []


# --- Guest charging by QR code ------------------------------------------------------------------

def guest_hold(stripe_http: FakeStripeHTTP):  # type: ignore[no-untyped-def]
    station = StationFactory(price_per_kwh=Decimal("0.50"), online=True)
    ConnectorFactory(station=station, connector_id=1)
    response = APIClient().post("/api/v1/billing/guest-sessions/", {
        "charge_point_id": station.charge_point_id, "connector_id": 1, "email": "guest@example.com",
    }, format="json")
    assert response.status_code == 201, response.content
    return station, response.json()


def hold_authorised(payment: Payment, event_id: str = "evt_pi_1") -> bytes:
    return event("payment_intent.amount_capturable_updated", {
        "id": payment.provider_ref, "object": "payment_intent", "amount": 3000, "amount_capturable": 3000,
        "capture_method": "manual", "currency": "eur", "status": "requires_capture",
        "metadata": {"payment": str(payment.pk)},
    }, event_id=event_id)


def test_a_guest_gets_a_manual_capture_hold_for_the_session_maximum(stripe_http) -> None:  # type: ignore[no-untyped-def]
    _station, body = guest_hold(stripe_http)
    assert body["client_secret"] == "pi_test_1_secret_abc"
    assert (body["amount"], body["status"]) == ("30.00", "created")
    _method, path, form = stripe_http.requests[0]
    assert path == "/v1/payment_intents"
    assert form["capture_method"] == ["manual"] and form["amount"] == ["3000"]
    payment = Payment.objects.get(pk=body["payment_id"])
    assert IdTag.objects.get(id_tag=payment.id_tag).user is None


def test_an_authorised_hold_starts_the_charger_and_the_stop_captures_the_actual_cost(
    stripe_http, charger, mailoutbox, django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    station, body = guest_hold(stripe_http)
    payment = Payment.objects.get(pk=body["payment_id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(APIClient(), hold_authorised(payment)).json() == {"status": "authorized"}
    assert charger == [(station.charge_point_id, "RemoteStartTransaction", {"connectorId": 1, "idTag": payment.id_tag})]

    # The charger starts (what the OCPP endpoint does on StartTransaction), meters, and stops.
    now = timezone.now()
    tx = Transaction.objects.create(
        station=station, connector=station.connectors.get(connector_id=1), id_tag=payment.id_tag,
        meter_start=0, started_at=now - timedelta(hours=1),
    )
    session_start_pricing(transaction=tx)
    payment.refresh_from_db()
    assert payment.transaction_id == tx.pk
    tx.energy_wh = 12345
    session_cost_update(transaction=tx, now=now)
    progress = APIClient().get(f"/api/v1/billing/guest-sessions/{body['token']}/").json()
    assert (progress["cost"], progress["active"]) == ("6.17", True)

    Transaction.objects.filter(pk=tx.pk).update(stopped_at=now, meter_stop=12345, energy_wh=12345)
    with django_capture_on_commit_callbacks(execute=True):
        session_settle(transaction_id=tx.pk)
    _method, path, form = stripe_http.requests[-1]
    assert path == f"/v1/payment_intents/{payment.provider_ref}/capture"
    assert form["amount_to_capture"] == ["617"]  # the actual cost; Stripe releases the rest
    payment.refresh_from_db()
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURED, Decimal("6.17"))
    assert IdTag.objects.get(id_tag=payment.id_tag).status == IdTagStatus.EXPIRED
    assert LedgerEntry.objects.count() == 0  # a guest has no balance
    assert [m.to for m in mailoutbox] == [["guest@example.com"]]
    assert "6.17 EUR" in mailoutbox[0].body


def test_a_refused_guest_start_releases_the_hold(stripe_http, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    charger.status = "Rejected"
    _station, body = guest_hold(stripe_http)
    payment = Payment.objects.get(pk=body["payment_id"])
    with django_capture_on_commit_callbacks(execute=True):
        post_event(APIClient(), hold_authorised(payment))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert stripe_http.paths()[-1] == f"/v1/payment_intents/{payment.provider_ref}/cancel"


def test_a_guest_session_reaching_the_hold_is_stopped(stripe_http, charger, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    station, body = guest_hold(stripe_http)
    payment = Payment.objects.get(pk=body["payment_id"])
    post_event(APIClient(), hold_authorised(payment))
    tx = Transaction.objects.create(
        station=station, connector=station.connectors.get(connector_id=1), id_tag=payment.id_tag,
        meter_start=0, started_at=timezone.now(),
    )
    session_start_pricing(transaction=tx)
    tx.energy_wh = 60000  # 30.00 at 0.50/kWh: the whole hold
    with django_capture_on_commit_callbacks(execute=True):
        session_cost_update(transaction=tx, now=timezone.now())
    assert ("RemoteStopTransaction", {"transactionId": tx.pk}) in [(c[1], c[2]) for c in charger]


def test_an_expired_checkout_closes_the_topup_without_credit(stripe_http) -> None:  # type: ignore[no-untyped-def]
    user, client, _ = start_topup(stripe_http)
    payment = Payment.objects.get(user=user)
    expired = event("checkout.session.expired", {
        "id": payment.provider_ref, "object": "checkout.session", "client_reference_id": str(payment.pk),
        "metadata": {"payment": str(payment.pk)}, "payment_status": "unpaid", "status": "expired",
    }, event_id="evt_expired_1")
    assert post_event(client, expired).json() == {"status": "closed"}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    user.refresh_from_db()
    assert user.balance == Decimal("0")


def test_an_unhandled_event_type_is_recorded_and_ignored(stripe_http) -> None:  # type: ignore[no-untyped-def]
    payload = event("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_other")
    assert post_event(APIClient(), payload).json() == {"status": "ignored"}
    assert ProviderEvent.objects.filter(event_id="evt_other", event_type="customer.created").exists()


def test_the_hold_is_bounded_by_the_stations_energy_limit(settings) -> None:  # type: ignore[no-untyped-def]
    from billing.payments import guest_hold_amount
    from billing.tests.factories import TariffFactory

    settings.CSMS_GUEST_HOLD_AMOUNT = Decimal("30.00")
    assert guest_hold_amount(station=StationFactory(price_per_kwh=Decimal("0.45"), max_energy_per_session_wh=20000)) == Decimal("9.00")
    assert guest_hold_amount(station=StationFactory(price_per_kwh=Decimal("0.45"))) == Decimal("30.00")
    timed = TariffFactory(price_per_minute=Decimal("0.05"))
    assert guest_hold_amount(station=StationFactory(tariff=timed, max_energy_per_session_wh=20000)) == Decimal("30.00")


def test_holds_whose_session_never_started_are_released(stripe_http, settings) -> None:  # type: ignore[no-untyped-def]
    from billing.payments import payment_release_unused

    _station, body = guest_hold(stripe_http)
    payment = Payment.objects.get(pk=body["payment_id"])
    post_event(APIClient(), hold_authorised(payment))
    now = timezone.now()
    assert payment_release_unused(now=now) == []  # still within its time
    later = now + timedelta(minutes=settings.CSMS_GUEST_ID_TAG_MINUTES + 1)
    assert payment_release_unused(now=later) == [payment.pk]
    assert payment_release_unused(now=later) == []  # twice: nothing more
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert stripe_http.paths().count(f"/v1/payment_intents/{payment.provider_ref}/cancel") == 1
    assert IdTag.objects.get(id_tag=payment.id_tag).status == IdTagStatus.EXPIRED


def test_no_hold_for_an_offline_charger_or_a_busy_connector(stripe_http) -> None:  # type: ignore[no-untyped-def]
    offline = StationFactory()
    ConnectorFactory(station=offline, connector_id=1)
    busy = StationFactory(online=True)
    ConnectorFactory(station=busy, connector_id=1, status="Charging")
    client = APIClient()
    for station, status, code in ((offline, 409, "charger_offline"), (busy, 409, "connector_occupied")):
        response = client.post("/api/v1/billing/guest-sessions/", {"charge_point_id": station.charge_point_id,
                                                                   "connector_id": 1}, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert client.post("/api/v1/billing/guest-sessions/", {"charge_point_id": busy.charge_point_id, "connector_id": 9},
                       format="json").status_code == 404
    assert stripe_http.requests == []
    assert Payment.objects.count() == 0
