"""Notifications: one row per user, kind and occasion; delivered in the app (live) and by e-mail.

Interface used by the other apps. Domain services call these through ``transaction.on_commit``
with ids only:
- ``transaction_started(transaction_id=)``, ``transaction_stopped(transaction_id=)``
- ``connector_status_changed(station_id=, connector_id=, status=)`` (connector_id 0: the charger),
  through ``StatusChange`` (a batch of them: ``connector_statuses_changed``)
- ``unknown_charger_refused(charge_point_id=, reason=)``

Every notification carries a ``dedup_key`` (unique per user and kind), so the hooks and the
periodic jobs can run twice, or race, and still notify once. The row is written even when the
user turned both channels off: it is the record that the occasion was handled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.template.loader import select_template
from django.utils import timezone, translation
from django.utils.functional import Promise

from accounts.models import STAFF_ROLES, User
from core import sql
from core.events import publish_on_commit, user_group
from core.exceptions import InvalidInput, NotFound
from core.tasks import EnqueueOnCommit
from notifications import messages
from notifications.models import Notification, NotificationChannel, NotificationKind, NotificationPreference

logger = logging.getLogger(__name__)

Kind = NotificationKind

FAULTED = "Faulted"
END_OF_CHARGE_STATUSES = ("SuspendedEV", "Finishing")
CHARGING = "Charging"


# --- Preferences ------------------------------------------------------------------------------


def notification_channels_enabled(*, user_id: int, kind: str) -> dict[str, bool]:
    """The user's choice for one kind on each channel; no row means on."""
    if connection.vendor == "postgresql":  # every session start and stop asks: no ORM compile
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT channel, enabled FROM "{NotificationPreference._meta.db_table}" WHERE user_id = %s AND kind = %s',
                [user_id, kind],
            )
            chosen = dict(cursor.fetchall())
    else:
        chosen = dict(
            NotificationPreference.objects.filter(user_id=user_id, kind=kind).values_list("channel", "enabled")
        )
    return {channel: chosen.get(channel, True) for channel in NotificationChannel.values}


@dataclass(frozen=True)
class PreferenceChange:
    kind: str
    channel: str
    enabled: bool


@transaction.atomic
def notification_preferences_update(*, user: User, changes: Iterable[PreferenceChange]) -> None:
    """Set the user's choices. Kinds the user's role does not receive are refused (InvalidInput)."""
    allowed = set(messages.kinds_for_role(user.role))
    for change in changes:
        if change.kind not in allowed:
            raise InvalidInput(errors={"kind": [f"unknown kind {change.kind!r}"]})
        if change.channel not in NotificationChannel.values:
            raise InvalidInput(errors={"channel": [f"unknown channel {change.channel!r}"]})
        NotificationPreference.objects.update_or_create(
            user=user, kind=change.kind, channel=change.channel, defaults={"enabled": change.enabled}
        )


# --- Sending ----------------------------------------------------------------------------------


def _language(user: User) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    return user.language if user.language in languages else settings.LANGUAGE_CODE


def _render(text: Any, params: Mapping[str, Any]) -> str:
    rendered = str(text)
    try:
        return rendered % params if params else rendered
    except (KeyError, ValueError, TypeError):  # a translator's typo must not lose the notification
        logger.exception("bad notification text %r", rendered)
        return str(text)


def notification_payload(notification: Notification) -> dict[str, Any]:
    """The JSON shape of a notification, for the API and the live push."""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
    }


def notification_send(
    *,
    user: User,
    kind: str,
    dedup_key: str,
    params: Mapping[str, Any] | None = None,
    title: Any = None,
    body: Any = None,
    data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """Notify one user once per (kind, dedup_key), in the user's language, on the chosen channels.

    Returns the new notification, or None when it was already sent (a repeat changes nothing)
    or the user is inactive. The live push and the e-mail task leave after commit.
    """
    if not user.is_active:
        return None
    notification = _notification_new(
        user=user, kind=kind, dedup_key=dedup_key, params=params, title=title, body=body, data=data, now=now,
        channels=notification_channels_enabled(user_id=user.pk, kind=kind),
    )
    if connection.vendor == "postgresql":
        # A duplicate (a job run twice, two racing hooks) is skipped by the unique constraint.
        if not sql.insert(notification, on_conflict_nothing=True):
            return None
    else:
        try:
            with transaction.atomic():  # a savepoint, so a duplicate rolls back only itself
                notification.save(force_insert=True)
        except IntegrityError:
            return None
    _notification_announce(notification)
    return notification


@dataclass(frozen=True)
class Wanted:
    """One notification ``notifications_send_many`` is asked for (``notification_send``'s arguments)."""

    user: User
    kind: str
    dedup_key: str
    params: Mapping[str, Any]


def _plain_json(data: Any) -> Any:
    """``data`` as the JSON the notification stores (times, decimals and lazy strings made
    strings by Django's encoder), for ``insert_rows``' document."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


_NOTIFICATION_COLUMNS = ("user_id", "kind", "title", "body", "data", "dedup_key", "created_at", "in_app", "email")
_NOTIFICATION_TYPES = ("bigint", "text", "text", "text", "jsonb", "text", "timestamptz", "boolean", "boolean")


def notifications_send_many(wanted: Sequence[Wanted], *, now: datetime | None = None) -> list[Notification]:
    """``notification_send`` for many (PostgreSQL): two statements whatever their number (the
    preferences, one INSERT that skips duplicates). Returns the new ones."""
    wanted = [w for w in wanted if w.user.is_active]
    if not wanted:
        return []
    now = now or timezone.now()
    user_ids = sorted({w.user.pk for w in wanted})
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT user_id, kind, channel, enabled FROM "{NotificationPreference._meta.db_table}" '
            f"WHERE user_id = {sql.any_of('bigint')}",
            [sql.json_list(user_ids)],
        )
        chosen = {(user_id, kind, channel): enabled for user_id, kind, channel, enabled in cursor.fetchall()}
    pending: dict[tuple[int, str, str], Notification] = {}
    for w in wanted:
        channels = {c: chosen.get((w.user.pk, w.kind, c), True) for c in NotificationChannel.values}
        notification = _notification_new(
            user=w.user, kind=w.kind, dedup_key=w.dedup_key, params=w.params, now=now, channels=channels
        )
        pending.setdefault((w.user.pk, notification.kind, notification.dedup_key), notification)
    inserted = sql.insert_rows(
        Notification._meta.db_table, _NOTIFICATION_COLUMNS, _NOTIFICATION_TYPES,
        [(n.user_id, n.kind, n.title, n.body, _plain_json(n.data), n.dedup_key, n.created_at,
          n.in_app, n.email) for n in pending.values()],
        on_conflict_nothing=True, returning="id, user_id, kind, dedup_key",
    )
    sent = []
    for pk, user_id, kind, dedup_key in inserted:
        notification = pending[user_id, kind, dedup_key]
        notification.pk = pk
        notification._state.adding = False
        sent.append(notification)
    sent.sort(key=lambda n: n.pk)
    for notification in sent:
        _notification_announce(notification)
    return sent


def _notification_new(
    *, user: User, kind: str, dedup_key: str, params: Mapping[str, Any] | None, channels: Mapping[str, bool],
    title: Any = None, body: Any = None, data: Mapping[str, Any] | None = None, now: datetime | None = None,
) -> Notification:
    """The notification as it will be stored: texts in the user's language, channels chosen."""
    params = dict(params or {})
    default_title, default_body = messages.TEXTS[kind]
    with translation.override(_language(user)):
        rendered_title = _render(title or default_title, params)[:200]
        rendered_body = _render(body or default_body, params)
    return Notification(
        user=user,
        kind=kind,
        dedup_key=dedup_key[:200],
        title=rendered_title,
        body=rendered_body,
        data={**{k: str(v) if isinstance(v, Promise) else v for k, v in params.items()}, **(data or {})},
        created_at=now or timezone.now(),
        in_app=channels[NotificationChannel.IN_APP],
        email=channels[NotificationChannel.EMAIL] and bool(user.email),
    )


def _notification_announce(notification: Notification) -> None:
    """After commit: the live push and the e-mail task, as chosen.

    The push carries no unread count: the consumer of a user who listens adds it as it forwards
    the push (``NotificationConsumer``). Counting here, for every user notified whether anyone
    listens or not, was the costliest statement of a batch's after-commit work (7 ms for twenty
    drivers with a hundred unread each, the index's recent rows read from the table too)."""
    if notification.in_app:
        publish_on_commit(
            user_group(notification.user_id),
            {"type": "notification", "notification": notification_payload(notification)},
        )
    if notification.email:
        transaction.on_commit(EnqueueOnCommit(_enqueue_email, notification.pk))


def _enqueue_email(notification_id: int) -> None:
    from core.tasks import enqueue
    from notifications.tasks import notification_email_send

    try:
        enqueue(notification_email_send, notification_id)
    except Exception:  # broker down: the retry job sends it later; the domain write stands
        logger.exception("could not enqueue e-mail for notification %s", notification_id)


def operators() -> QuerySet[User]:
    return User.objects.filter(role__in=STAFF_ROLES, is_active=True).order_by("pk")


def notification_send_to_operators(
    *, kind: str, dedup_key: str, params: Mapping[str, Any] | None = None, title: Any = None,
    body: Any = None, data: Mapping[str, Any] | None = None, now: datetime | None = None,
) -> list[Notification]:
    """Notify every active admin and super admin (once each per kind and dedup_key)."""
    sent = []
    for user in operators():
        notification = notification_send(
            user=user, kind=kind, dedup_key=dedup_key, params=params, title=title, body=body, data=data, now=now
        )
        if notification is not None:
            sent.append(notification)
    return sent


@transaction.atomic
def notification_email_deliver(*, notification_id: int, now: datetime | None = None) -> bool:
    """Send a notification's e-mail once. Locks the row; a repeat (or a lost race) sends nothing.

    Returns True when this call sent it. SMTP errors propagate (the task retries them) and roll
    back, so ``emailed_at`` is only set for a mail the server accepted.
    """
    try:
        notification = Notification.objects.select_for_update().select_related("user").get(pk=notification_id)
    except Notification.DoesNotExist:
        return False
    user = notification.user
    if notification.emailed_at is not None or not notification.email or not user.email or not user.is_active:
        return False
    context = {
        "notification": notification,
        "user": user,
        "data": notification.data,
        "public_url": settings.CSMS_PUBLIC_URL.rstrip("/"),
    }
    with translation.override(_language(user)):
        text = select_template(
            [f"notifications/email/{notification.kind}.txt", "notifications/email/default.txt"]
        ).render(context)
        html = select_template(
            [f"notifications/email/{notification.kind}.html", "notifications/email/default.html"]
        ).render(context)
        message = EmailMultiAlternatives(
            subject=notification.title, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]
        )
        message.attach_alternative(html, "text/html")
        message.send()
    notification.emailed_at = now or timezone.now()
    notification.save(update_fields=["emailed_at"])
    return True


# --- Reading ----------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user: User, notification_id: int, now: datetime | None = None) -> Notification:
    """Mark one of the user's notifications read (a repeat keeps the first time). NotFound otherwise."""
    try:
        notification = Notification.objects.select_for_update().get(pk=notification_id, user=user, in_app=True)
    except Notification.DoesNotExist:
        raise NotFound() from None
    if notification.read_at is None:
        notification.read_at = now or timezone.now()
        notification.save(update_fields=["read_at"])
        _publish_read(user=user, ids=[notification.pk])
    return notification


@transaction.atomic
def notification_mark_all_read(*, user: User, now: datetime | None = None) -> int:
    """Mark every unread in-app notification of the user read; returns how many changed."""
    unread = Notification.objects.filter(user=user, in_app=True, read_at__isnull=True)
    ids = list(unread.values_list("pk", flat=True))
    count = unread.update(read_at=now or timezone.now())
    if count:
        _publish_read(user=user, ids=ids)
    return count


def _publish_read(*, user: User, ids: list[int]) -> None:
    publish_on_commit(user_group(user.pk), {"type": "notification.read", "ids": ids, "unread": (
        Notification.objects.filter(user=user, in_app=True, read_at__isnull=True).count()
    )})


# --- Hooks called by the other apps (after commit, with ids) ------------------------------------


def _energy_kwh(energy_wh: int) -> str:
    return f"{Decimal(energy_wh) / 1000:.3f}"


def transaction_params(tx: Any) -> dict[str, Any]:
    """The parameters every session notification shows."""
    return {
        "transaction_id": tx.pk,
        "station": str(tx.station),
        "charge_point_id": tx.station.charge_point_id,
        "connector": tx.connector.connector_id,
        "energy_kwh": _energy_kwh(tx.energy_wh),
        "cost": f"{tx.cost:.2f}",
        "currency": tx.currency,
    }


def _load_transaction(transaction_id: int) -> Any:
    from transactions.models import Transaction

    return (
        Transaction.objects.select_related("station", "connector", "user").filter(pk=transaction_id).first()
    )


def _load_user(user_id: int) -> User | None:
    """The user row (one hand-written query on PostgreSQL: every session start and stop reads it)."""
    if connection.vendor != "postgresql":
        return User.objects.filter(pk=user_id).first()
    names, select = sql.columns(User, "u")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {select} FROM "{User._meta.db_table}" u WHERE u.id = %s', [user_id])
        row = cursor.fetchone()
    return sql.instance(User, names, row) if row is not None else None


def transaction_started(*, transaction_id: int, tx: Any = None) -> None:
    """Charging started: tell the driver. ``tx``: the session as the start left it in memory
    (with its station and connector), which saves reading it again."""
    if tx is None:
        tx = _load_transaction(transaction_id)
    if tx is None or tx.user_id is None:
        return
    user = _load_user(tx.user_id)
    if user is None:
        return
    with transaction.atomic():
        notification_send(user=user, kind=Kind.CHARGING_STARTED, dedup_key=str(tx.pk), params=transaction_params(tx))


def transaction_stopped(*, transaction_id: int, tx: Any = None) -> None:
    """The session ended (StopTransaction, or a late one after an inferred stop).

    Records the end of charge when nothing detected it earlier, then tells the driver: charging
    finished (with the cost billing settled inside the stop), and low balance if it is. The
    receipt (kind ``receipt``, same dedup key: the session id) is billing's ``receipt_send``.
    ``tx``: the stopped session as the stop left it in memory (saves reading it again).
    """
    from transactions.models import Transaction

    if tx is None:
        tx = _load_transaction(transaction_id)
    if tx is None or tx.stopped_at is None:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{Transaction._meta.db_table}" SET end_of_charge_at = %s '
                    "WHERE id = %s AND end_of_charge_at IS NULL",
                    [tx.stopped_at, tx.pk],
                )
        else:
            Transaction.objects.filter(pk=tx.pk, end_of_charge_at__isnull=True).update(end_of_charge_at=tx.stopped_at)
        user = _load_user(tx.user_id) if tx.user_id is not None else None
        if user is None:
            return
        params = transaction_params(tx)
        notification_send(user=user, kind=Kind.CHARGING_FINISHED, dedup_key=str(tx.pk), params=params)
        balance_check(user_id=user.pk, dedup_key=f"tx:{tx.pk}", user=user)


class SessionNotice:
    """The after-commit work of a session's start or stop (``transaction_started`` or
    ``transaction_stopped`` for ``tx``, the session as the service left it in memory). The group
    committer runs a batch's notices together: ``run_many``."""

    __slots__ = ("tx", "stopped")

    def __init__(self, tx: Any, *, stopped: bool) -> None:
        self.tx = tx
        self.stopped = stopped

    def __call__(self) -> None:
        if self.stopped:
            transaction_stopped(transaction_id=self.tx.pk, tx=self.tx)
        else:
            transaction_started(transaction_id=self.tx.pk, tx=self.tx)

    @staticmethod
    def run_many(notices: Sequence[SessionNotice]) -> None:
        session_notices_send(notices=notices)


def session_notices_send(*, notices: Sequence[SessionNotice]) -> None:
    """What ``transaction_started``/``transaction_stopped`` do, for many sessions at once
    (PostgreSQL): the ends of charge in one UPDATE, the drivers in one read, and the
    notifications through ``notifications_send_many``, whatever the number of sessions."""
    from transactions.models import Transaction

    if connection.vendor != "postgresql" or len(notices) == 1:
        for notice in notices:
            notice()
        return
    with transaction.atomic():
        stopped = [n.tx for n in notices if n.stopped and n.tx.stopped_at is not None]
        if stopped:
            with sql.server_cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{Transaction._meta.db_table}" t SET end_of_charge_at = v.at '
                    f"FROM ({sql.json_rows_select(('bigint', 'timestamptz'), len(stopped))}) v(id, at) "
                    "WHERE t.id = v.id AND t.end_of_charge_at IS NULL",
                    [sql.json_rows([(tx.pk, tx.stopped_at) for tx in stopped])],
                )
        users = _load_users({n.tx.user_id for n in notices if n.tx.user_id is not None})
        wanted: list[Wanted] = []
        for notice in notices:
            tx = notice.tx
            user = users.get(tx.user_id) if tx.user_id is not None else None
            if user is None or (notice.stopped and tx.stopped_at is None):
                continue
            if not notice.stopped:
                wanted.append(Wanted(user, Kind.CHARGING_STARTED, str(tx.pk), transaction_params(tx)))
                continue
            wanted.append(Wanted(user, Kind.CHARGING_FINISHED, str(tx.pk), transaction_params(tx)))
            if _balance_low(user):  # balance_check
                wanted.append(Wanted(user, Kind.LOW_BALANCE, f"tx:{tx.pk}", _balance_params(user)))
        notifications_send_many(wanted)


def _load_users(user_ids: Iterable[int]) -> dict[int, User]:
    """Users by id, in one hand-written query (PostgreSQL)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    names, select = sql.columns(User, "u")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {select} FROM "{User._meta.db_table}" u WHERE u.id = {sql.any_of("bigint")}',
                       [sql.json_list(ids)])
        found = [sql.instance(User, names, row) for row in cursor.fetchall()]
    return {user.pk: user for user in found}


def balance_check(*, user_id: int, dedup_key: str, user: User | None = None) -> Notification | None:
    """Low balance: under ``CSMS_LOW_BALANCE_THRESHOLD`` (in the user's currency). ``user``: read
    in this database transaction already."""
    if user is None:
        user = User.objects.get(pk=user_id)
    if not _balance_low(user):
        return None
    return notification_send(user=user, kind=Kind.LOW_BALANCE, dedup_key=dedup_key, params=_balance_params(user))


def _balance_low(user: User) -> bool:
    return user.balance < settings.CSMS_LOW_BALANCE_THRESHOLD


def _balance_params(user: User) -> dict[str, Any]:
    return {"balance": f"{user.balance:.2f}", "currency": user.currency}


def connector_status_changed(*, station_id: int, connector_id: int, status: str) -> None:
    """A StatusNotification was stored.

    - Faulted (charger or a connector): ``Station.faulted_since`` is set once per fault and the
      operators are told; it is cleared when neither the charger nor any connector is faulted.
    - SuspendedEV/Finishing during a session: the end of charge is detected now (the
      end-of-charge job notifies after the station's delay, and stops/unlocks if set).
    """
    from stations.models import Connector, Station
    from transactions.models import Transaction

    now = timezone.now()
    with transaction.atomic():
        station = Station.objects.select_for_update().filter(pk=station_id).first()
        if station is None:
            return
        faulted = station.charger_status == FAULTED or Connector.objects.filter(
            station=station, connector_id__gt=0, status=FAULTED
        ).exists()
        if faulted and station.faulted_since is None:
            station.faulted_since = now
            station.save(update_fields=["faulted_since"])
        elif not faulted and station.faulted_since is not None:
            station.faulted_since = None
            station.save(update_fields=["faulted_since"])
        if status == FAULTED and station.faulted_since is not None:
            connector = Connector.objects.filter(station=station, connector_id=connector_id).first()
            error_code = station.charger_error_code if connector_id == 0 or connector is None else connector.error_code
            notification_send_to_operators(
                kind=Kind.STATION_FAULTED,
                dedup_key=f"{station.pk}:{station.faulted_since.isoformat()}:{connector_id}",
                params={
                    "station": str(station), "charge_point_id": station.charge_point_id,
                    "connector": connector_id, "error_code": error_code or "",
                },
            )
        if connector_id > 0:
            open_sessions = Transaction.objects.filter(
                station=station, connector__connector_id=connector_id, stopped_at__isnull=True,
            )
            if status in END_OF_CHARGE_STATUSES:
                # SuspendedEV before the first Wh is a car not ready yet, not a full one.
                started = open_sessions.filter(end_of_charge_at__isnull=True)
                if status == "SuspendedEV":
                    started = started.filter(energy_wh__gt=0)
                started.update(end_of_charge_at=now)
            elif status == CHARGING:
                # The car draws power again: an end of charge detected earlier is void.
                open_sessions.filter(end_of_charge_at__isnull=False).update(end_of_charge_at=None)


class StatusChange:
    """The after-commit work of a stored status change (``connector_status_changed``). The group
    committer runs a batch's changes together: ``run_many``."""

    __slots__ = ("station_id", "connector_id", "status")

    def __init__(self, *, station_id: int, connector_id: int, status: str) -> None:
        self.station_id = station_id
        self.connector_id = connector_id
        self.status = status

    def __call__(self) -> None:
        connector_status_changed(station_id=self.station_id, connector_id=self.connector_id, status=self.status)

    def __repr__(self) -> str:
        return f"StatusChange(station {self.station_id}, connector {self.connector_id}, {self.status})"

    @staticmethod
    def run_many(changes: Sequence[StatusChange]) -> None:
        connector_statuses_changed(changes=changes)


def connector_statuses_changed(*, changes: Sequence[StatusChange]) -> None:
    """What ``connector_status_changed`` does, for many status changes at once (PostgreSQL): the
    stations' ``faulted_since`` in one UPDATE and the ends of charge in another, whatever the
    number of changes. A fault, which operators are told of, goes on its own."""
    from stations.models import Connector, Station
    from transactions.models import Transaction

    if connection.vendor != "postgresql" or len(changes) == 1:
        for change in changes:
            change()
        return
    now = timezone.now()
    others = [change for change in changes if change.status != FAULTED]
    stations, connectors = Station._meta.db_table, Connector._meta.db_table
    with transaction.atomic(), sql.server_cursor() as cursor:
        if others:
            # Set when the charger or a connector is faulted, cleared when none is; only rows
            # whose state flips are written (hardly any, most of the time).
            cursor.execute(
                f'UPDATE "{stations}" s SET faulted_since = CASE WHEN f.faulted THEN %s::timestamptz END '
                f'FROM (SELECT s2.id, (s2.charger_status = %s OR EXISTS (SELECT 1 FROM "{connectors}" c '
                f"WHERE c.station_id = s2.id AND c.connector_id > 0 AND c.status = %s)) AS faulted "
                f'FROM "{stations}" s2 WHERE s2.id = {sql.any_of("bigint")}) f '
                f"WHERE s.id = f.id AND (f.faulted AND s.faulted_since IS NULL OR NOT f.faulted AND s.faulted_since IS NOT NULL)",
                [now, FAULTED, FAULTED, sql.json_list(sorted({change.station_id for change in others}))],
            )
        sessions = [c for c in others if c.connector_id > 0 and c.status in (*END_OF_CHARGE_STATUSES, CHARGING)]
        if sessions:
            # SuspendedEV before the first Wh is a car not ready yet, not a full one; Charging
            # again voids an end of charge detected earlier.
            cursor.execute(
                f'UPDATE "{Transaction._meta.db_table}" t SET end_of_charge_at = '
                f"CASE WHEN v.status = %s THEN NULL ELSE %s::timestamptz END "
                f"FROM ({sql.json_rows_select(('bigint', 'integer', 'text'), len(sessions))}) AS v(station_id, connector, status) "
                f'JOIN "{connectors}" c ON c.station_id = v.station_id AND c.connector_id = v.connector '
                f"WHERE t.connector_id = c.id AND t.station_id = v.station_id AND t.stopped_at IS NULL AND "
                f"(v.status = %s AND t.end_of_charge_at IS NOT NULL OR v.status <> %s AND t.end_of_charge_at IS NULL "
                f"AND (v.status <> 'SuspendedEV' OR t.energy_wh > 0))",
                [CHARGING, now, sql.json_rows([(c.station_id, c.connector_id, c.status) for c in sessions]),
                 CHARGING, CHARGING],
            )
    for change in changes:
        if change.status == FAULTED:
            change()


def unknown_charger_refused(*, charge_point_id: str, reason: str) -> None:
    """An unknown charger tried to connect: operators hear of each id at most once an hour."""
    now = timezone.now()
    with transaction.atomic():
        notification_send_to_operators(
            kind=Kind.UNKNOWN_CHARGER,
            dedup_key=f"{charge_point_id}:{now:%Y%m%d%H}",
            params={"charge_point_id": charge_point_id, "reason": reason},
        )
