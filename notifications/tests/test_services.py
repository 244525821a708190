import pytest
from django.core import mail
from django.utils import translation

from accounts.models import Role
from accounts.tests.factories import AdminFactory, UserFactory
from notifications.models import Notification, NotificationKind, NotificationPreference
from notifications.services import (
    PreferenceChange,
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
    notification_send,
    notification_send_to_operators,
)
from notifications.tests.fixtures import celery_eager  # noqa: F401
from core.exceptions import InvalidInput, NotFound

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def send(user, key="k1", **kwargs):
    return notification_send(user=user, kind=NotificationKind.LOW_BALANCE, dedup_key=key,
                             params={"balance": "1.50", "currency": "EUR"}, **kwargs)


def test_a_notification_is_stored_rendered_and_emailed_once(django_capture_on_commit_callbacks):
    user = UserFactory(email="driver@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notification = send(user)
    assert notification.title == "Low balance"
    assert "1.50 EUR" in notification.body
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["driver@example.com"]
    assert mail.outbox[0].subject == "Low balance"
    assert "1.50 EUR" in mail.outbox[0].body
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_sending_the_same_occasion_twice_notifies_once(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = send(user)
        again = send(user)
    assert first is not None and again is None
    assert Notification.objects.filter(user=user).count() == 1
    assert len(mail.outbox) == 1


def test_the_email_task_run_twice_sends_one_mail(django_capture_on_commit_callbacks):
    from notifications.tasks import notification_email_send

    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notification = send(user)
    assert notification_email_send(notification.pk) is False
    assert len(mail.outbox) == 1


def test_texts_are_rendered_in_the_users_language():
    french, german, default = UserFactory(language="fr"), UserFactory(language="de"), UserFactory(language="")
    params = {"transaction_id": 7, "station": "Genoa harbour", "connector": 2}
    fr, de, en = (
        notification_send(user=user, kind=NotificationKind.CHARGING_STARTED, dedup_key="7", params=params)
        for user in (french, german, default)
    )
    assert (fr.title, fr.body) == (
        "Recharge démarrée", "Votre session de recharge 7 a démarré à Genoa harbour, connecteur 2.")
    assert de.title == "Ladevorgang gestartet"
    assert (en.title, en.body) == (
        "Charging started", "Your charging session 7 started at Genoa harbour, connector 2.")
    assert translation.get_language() != "fr"


def test_lazy_texts_in_the_parameters_follow_the_users_language():
    from notifications.messages import SOC_WHAT

    notification = notification_send(
        user=UserFactory(language="it"), kind=NotificationKind.THRESHOLD_REACHED, dedup_key="1",
        params={"station": "S", "threshold": 80, "what": SOC_WHAT},
    )
    assert notification.body == "La tua sessione presso S ha raggiunto il 80% di stato di carica."
    assert notification.data["what"] == "state of charge"


def test_preferences_turn_channels_off(django_capture_on_commit_callbacks):
    user = UserFactory()
    notification_preferences_update(user=user, changes=[
        PreferenceChange(kind=NotificationKind.LOW_BALANCE, channel="email", enabled=False),
    ])
    with django_capture_on_commit_callbacks(execute=True):
        notification = send(user)
    assert notification.in_app is True and notification.email is False
    assert mail.outbox == []

    notification_preferences_update(user=user, changes=[
        PreferenceChange(kind=NotificationKind.LOW_BALANCE, channel="in_app", enabled=False),
    ])
    with django_capture_on_commit_callbacks(execute=True):
        hidden = send(user, key="k2")
    assert hidden.in_app is False
    assert NotificationPreference.objects.filter(user=user, enabled=False).count() == 2


def test_drivers_cannot_choose_operator_kinds():
    with pytest.raises(InvalidInput):
        notification_preferences_update(user=UserFactory(), changes=[
            PreferenceChange(kind=NotificationKind.STATION_OFFLINE, channel="email", enabled=False),
        ])


def test_operator_notifications_reach_every_active_admin_only(django_capture_on_commit_callbacks):
    admin = AdminFactory()
    superadmin = UserFactory(role=Role.SUPER_ADMIN)
    AdminFactory(is_active=False)
    UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        sent = notification_send_to_operators(
            kind=NotificationKind.UNKNOWN_CHARGER, dedup_key="X",
            params={"charge_point_id": "X", "reason": "unknown"},
        )
    assert {n.user for n in sent} == {admin, superadmin}


def test_marking_read_is_the_owners_and_keeps_the_first_time():
    user, other = UserFactory(), UserFactory()
    notification = send(user)
    with pytest.raises(NotFound):
        notification_mark_read(user=other, notification_id=notification.pk)
    first = notification_mark_read(user=user, notification_id=notification.pk).read_at
    assert notification_mark_read(user=user, notification_id=notification.pk).read_at == first
    send(user, key="k2")
    send(user, key="k3")
    assert notification_mark_all_read(user=user) == 2
    assert notification_mark_all_read(user=user) == 0


class RefusingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPServerDisconnected("the mail server went away")


def test_a_mail_server_failure_leaves_the_email_to_send_again(settings):
    import smtplib

    from notifications.services import notification_email_deliver

    user = UserFactory()
    notification = send(user)
    settings.EMAIL_BACKEND = "notifications.tests.test_services.RefusingBackend"
    with pytest.raises(smtplib.SMTPException):
        notification_email_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.emailed_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_email_deliver(notification_id=notification.pk) is True
    assert len(mail.outbox) == 1


def test_the_email_is_in_the_users_language(django_capture_on_commit_callbacks):
    user = UserFactory(language="de", first_name="Anna")
    with django_capture_on_commit_callbacks(execute=True):
        send(user)
    assert mail.outbox[0].subject == "Niedriges Guthaben"
    assert mail.outbox[0].body.startswith("Hallo Anna,")
    html = mail.outbox[0].alternatives[0][0]
    assert "Hallo Anna," in html and 'lang="de"' in html
