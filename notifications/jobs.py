"""Periodic notifications: reservations expiring and expired, the admins' daily summary, e-mail retry."""

from __future__ import annotations

import math
import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum

from notifications.models import Notification, NotificationKind
from notifications.services import _enqueue_email, notification_send, notification_send_to_operators

Kind = NotificationKind


def reservation_notify_due(*, now: datetime) -> dict[str, list[int]]:
    """Drivers hear once that their reservation expires within ``CSMS_RESERVATION_WARN_MINUTES``,
    and once that it expired (within the last day; the expiry itself is the reservations job)."""
    from reservations.models import Reservation, ReservationStatus

    result: dict[str, list[int]] = {"expiring": [], "expired": []}
    expiring = Reservation.objects.filter(
        status=ReservationStatus.ACTIVE, user__isnull=False,
        expires_at__gt=now, expires_at__lte=now + timedelta(minutes=settings.CSMS_RESERVATION_WARN_MINUTES),
    ).select_related("user", "station")
    for reservation in expiring:
        minutes = max(1, math.ceil((reservation.expires_at - now).total_seconds() / 60))
        with transaction.atomic():
            if notification_send(
                user=reservation.user, kind=Kind.RESERVATION_EXPIRING, dedup_key=str(reservation.pk),  # type: ignore[arg-type]
                params={"reservation_id": reservation.pk, "station": str(reservation.station),
                        "charge_point_id": reservation.station.charge_point_id, "minutes": minutes,
                        "expires_at": reservation.expires_at.isoformat()},
                now=now,
            ):
                result["expiring"].append(reservation.pk)
    expired = Reservation.objects.filter(
        status=ReservationStatus.EXPIRED, user__isnull=False, expires_at__gte=now - timedelta(days=1),
    ).select_related("user", "station")
    for reservation in expired:
        with transaction.atomic():
            if notification_send(
                user=reservation.user, kind=Kind.RESERVATION_EXPIRED, dedup_key=str(reservation.pk),  # type: ignore[arg-type]
                params={"reservation_id": reservation.pk, "station": str(reservation.station),
                        "charge_point_id": reservation.station.charge_point_id},
                now=now,
            ):
                result["expired"].append(reservation.pk)
    return result


def low_balance_during_sessions(*, now: datetime) -> list[int]:
    """A driver whose balance minus the running cost of an active session falls under
    ``CSMS_LOW_BALANCE_THRESHOLD`` hears it once per session (the same key as at the stop)."""
    from transactions.models import Transaction

    sent = []
    active = Transaction.objects.filter(stopped_at__isnull=True, user__isnull=False).select_related("user")
    for tx in active:
        user = tx.user
        left = user.balance - tx.cost  # type: ignore[union-attr]
        if left >= settings.CSMS_LOW_BALANCE_THRESHOLD:
            continue
        with transaction.atomic():
            if notification_send(
                user=user, kind=Kind.LOW_BALANCE, dedup_key=f"tx:{tx.pk}",  # type: ignore[arg-type]
                params={"balance": f"{left:.2f}", "currency": user.currency}, now=now,  # type: ignore[union-attr]
            ):
                sent.append(tx.pk)
    return sent


def daily_summary(*, day: date, now: datetime) -> dict[str, object]:
    """The figures of one day (midnight to midnight in ``TIME_ZONE``) and the stations' state at ``now``."""
    from stations.models import Station
    from transactions.models import Transaction

    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = start + timedelta(days=1)
    started = Transaction.objects.filter(started_at__gte=start, started_at__lt=end)
    stopped = Transaction.objects.filter(stopped_at__gte=start, stopped_at__lt=end)
    energy_wh = stopped.aggregate(e=Sum("energy_wh"))["e"] or 0
    revenue = {
        row["currency"]: f"{row['total']:.2f}"
        for row in stopped.values("currency").annotate(total=Sum("cost"), n=Count("id")).order_by("currency")
    }
    faults = Notification.objects.filter(
        kind=Kind.STATION_FAULTED, created_at__gte=start, created_at__lt=end
    ).values("data__charge_point_id").distinct().count()
    stations = list(Station.objects.filter(dismissed=False).exclude(last_heartbeat__isnull=True, last_boot_at__isnull=True))
    offline = sorted(s.charge_point_id for s in stations if s.is_offline(now))
    faulted = sorted(s.charge_point_id for s in stations if s.faulted_since is not None)
    return {
        "day": day.isoformat(),
        "sessions": started.count(),
        "sessions_finished": stopped.count(),
        "energy_kwh": f"{Decimal(energy_wh) / 1000:.3f}",
        "revenue": ", ".join(f"{amount} {currency}" for currency, amount in revenue.items()) or "0.00",
        "revenue_by_currency": revenue,
        "faults": faults,
        "faulted": len(faulted),
        "faulted_stations": faulted,
        "offline": len(offline),
        "offline_stations": offline,
    }


def daily_summary_send(*, now: datetime, day: date | None = None) -> list[Notification]:
    """Send the admins the summary of ``day`` (default: yesterday in ``TIME_ZONE``), once per day."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    day = day or (now.astimezone(tz).date() - timedelta(days=1))
    figures = daily_summary(day=day, now=now)
    with transaction.atomic():
        return notification_send_to_operators(
            kind=Kind.DAILY_SUMMARY, dedup_key=day.isoformat(), params=figures, now=now
        )


def notification_email_retry(*, now: datetime) -> list[int]:
    """E-mails asked for but not sent two minutes on (a lost task, a broker or SMTP outage),
    from the last day, are enqueued again; delivery itself is once only."""
    due = Notification.objects.filter(
        email=True, emailed_at__isnull=True,
        created_at__lt=now - timedelta(minutes=2), created_at__gte=now - timedelta(days=1),
    ).values_list("pk", flat=True)
    ids = list(due)
    for pk in ids:
        _enqueue_email(pk)
    return ids
