"""Id-tag authorization: what the CSMS answers to Authorize, StartTransaction and StopTransaction.

The OCPP 1.6 ``IdTagInfo`` statuses: Accepted, Blocked, Expired, Invalid, ConcurrentTx.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connection

from accounts.models import IdTag, IdTagStatus

ACCEPTED = "Accepted"
BLOCKED = "Blocked"
EXPIRED = "Expired"
INVALID = "Invalid"
CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True)
class IdTagInfo:
    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    user_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def as_ocpp(self) -> dict[str, Any]:
        """The OCPP ``idTagInfo`` object (snake_case keys for the ``ocpp`` library)."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            info["expiry_date"] = _utc_z(self.expiry_date)
        if self.parent_id_tag:
            info["parent_id_tag"] = self.parent_id_tag
        return info


def _utc_z(value: datetime) -> str:
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_tag_authorize(
    *, id_tag: str, now: datetime, check_concurrent: bool = True, exclude_transaction_id: int | None = None
) -> IdTagInfo:
    """Decide the ``idTagInfo`` for an id tag. Reads only; locks nothing.

    Invalid: unknown tag. Blocked: tag blocked, or its user blocked. Expired: tag expired (status or
    expiry date). ConcurrentTx: the tag already has an active transaction (``check_concurrent``;
    ``exclude_transaction_id`` ignores the session being answered, e.g. a resent StartTransaction).

    On PostgreSQL one hand-written query reads everything (this runs for every Authorize,
    StartTransaction and StopTransaction); other databases take the ORM path, same decisions.
    """
    if connection.vendor == "postgresql":
        row = _id_tag_row(id_tag, check_concurrent, exclude_transaction_id)
        return _info_from_row(row, now=now, check_concurrent=check_concurrent)
    orm_tag = IdTag.objects.select_related("user", "parent").filter(id_tag=id_tag).first()
    if orm_tag is None:
        return IdTagInfo(status=INVALID)
    parent = orm_tag.parent if orm_tag.parent_id and orm_tag.parent else None

    def concurrent() -> bool:  # asked only when it can decide
        from transactions.models import Transaction

        active = Transaction.objects.filter(id_tag=id_tag, stopped_at__isnull=True)
        if exclude_transaction_id is not None:
            active = active.exclude(pk=exclude_transaction_id)
        return active.exists()

    return _decide(
        tag=orm_tag, user_id=orm_tag.user_id, user_blocked=orm_tag.user is not None and not orm_tag.user.is_active,
        parent=parent, parent_tag=parent.id_tag if parent is not None else None, concurrent=concurrent,
        now=now, check_concurrent=check_concurrent,
    )


def _id_tag_authorize_many(calls: Sequence[Mapping[str, Any]]) -> list[IdTagInfo]:
    """``id_tag_authorize`` for many calls (keyword arguments each) in one statement, the same
    decisions (PostgreSQL; the group committer runs a batch's Authorize messages through it)."""
    rows = _id_tag_rows([
        (call["id_tag"], call.get("check_concurrent", True), call.get("exclude_transaction_id")) for call in calls
    ])
    return [
        _info_from_row(row, now=call["now"], check_concurrent=call.get("check_concurrent", True))
        for call, row in zip(calls, rows)
    ]


id_tag_authorize.many = _id_tag_authorize_many  # type: ignore[attr-defined]


def _info_from_row(row: Sequence[Any] | None, *, now: datetime, check_concurrent: bool) -> IdTagInfo:
    """The decision on one row of the hand-written query (None: no such tag)."""
    if row is None:
        return IdTagInfo(status=INVALID)
    (tag_status, expiry_date, user_id, user_active, parent_tag, parent_status, parent_expiry, concurrent) = row
    # user_active is NULL when the tag has no user (or it is gone): the LEFT JOIN found nothing.
    return _decide(
        tag=IdTag(status=tag_status, expiry_date=expiry_date), user_id=user_id,
        user_blocked=user_active is not None and not user_active,
        parent=IdTag(status=parent_status, expiry_date=parent_expiry) if parent_tag is not None else None,
        parent_tag=parent_tag, concurrent=lambda: bool(concurrent), now=now, check_concurrent=check_concurrent,
    )


def _decide(
    *, tag: IdTag, user_id: int | None, user_blocked: bool, parent: IdTag | None, parent_tag: str | None,
    concurrent: Callable[[], bool], now: datetime, check_concurrent: bool,
) -> IdTagInfo:
    if tag.status == IdTagStatus.BLOCKED or user_blocked:
        return IdTagInfo(status=BLOCKED, parent_id_tag=parent_tag, user_id=user_id)
    if tag.is_expired(now):
        return IdTagInfo(status=EXPIRED, expiry_date=tag.expiry_date, parent_id_tag=parent_tag, user_id=user_id)
    if parent is not None:
        # A child card is as good as its group (OCPP parentIdTag).
        if parent.status == IdTagStatus.BLOCKED:
            return IdTagInfo(status=BLOCKED, parent_id_tag=parent_tag, user_id=user_id)
        if parent.is_expired(now):
            return IdTagInfo(status=EXPIRED, parent_id_tag=parent_tag, user_id=user_id)
    if check_concurrent and concurrent():
        return IdTagInfo(status=CONCURRENT_TX, expiry_date=tag.expiry_date, parent_id_tag=parent_tag, user_id=user_id)
    return IdTagInfo(status=ACCEPTED, expiry_date=tag.expiry_date, parent_id_tag=parent_tag, user_id=user_id)


_ID_TAG_SQL: dict[tuple[bool, bool], str] = {}


def _id_tag_sql(check_concurrent: bool, exclude: bool) -> str:
    """The PostgreSQL query of ``id_tag_authorize``, built once per shape from the models' ``_meta``.

    One row per known tag: status, expiry date, user id, the user's is_active (NULL: no user), the
    parent's id_tag/status/expiry date (NULL: no parent), and whether another active transaction
    holds the tag (FALSE when not asked). Parameters: id_tag[, id_tag[, exclude_transaction_id]].
    """
    key = (check_concurrent, exclude)
    sql = _ID_TAG_SQL.get(key)
    if sql is None:
        from transactions.models import Transaction

        def col(model: Any, name: str) -> str:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            return connection.ops.quote_name(field.column)

        def table(model: Any) -> str:
            return connection.ops.quote_name(model._meta.db_table)

        user_model = IdTag._meta.get_field("user").related_model
        if check_concurrent:
            concurrent = (
                f"EXISTS (SELECT 1 FROM {table(Transaction)} tx WHERE tx.{col(Transaction, 'id_tag')} = %s "
                f"AND tx.{col(Transaction, 'stopped_at')} IS NULL"
                + (f" AND tx.{col(Transaction, 'pk')} <> %s" if exclude else "")
                + ")"
            )
        else:
            concurrent = "FALSE"
        sql = (
            f"SELECT t.{col(IdTag, 'status')}, t.{col(IdTag, 'expiry_date')}, t.{col(IdTag, 'user')}, "
            f"u.{col(user_model, 'is_active')}, p.{col(IdTag, 'id_tag')}, p.{col(IdTag, 'status')}, "
            f"p.{col(IdTag, 'expiry_date')}, {concurrent} "
            f"FROM {table(IdTag)} t "
            f"LEFT JOIN {table(user_model)} u ON u.{col(user_model, 'pk')} = t.{col(IdTag, 'user')} "
            f"LEFT JOIN {table(IdTag)} p ON p.{col(IdTag, 'pk')} = t.{col(IdTag, 'parent')} "
            f"WHERE t.{col(IdTag, 'id_tag')} = %s"
        )
        _ID_TAG_SQL[key] = sql
    return sql


def _id_tag_row(id_tag: str, check_concurrent: bool, exclude_transaction_id: int | None) -> tuple[Any, ...] | None:
    exclude = check_concurrent and exclude_transaction_id is not None
    params: list[Any] = []
    if check_concurrent:
        params.append(id_tag)
        if exclude:
            params.append(exclude_transaction_id)
    params.append(id_tag)
    with connection.cursor() as cursor:
        cursor.execute(_id_tag_sql(check_concurrent, exclude), params)
        return cursor.fetchone()


_ID_TAG_MANY_SQL: list[str] = []


def _id_tag_rows(wanted: Sequence[tuple[str, bool, int | None]]) -> list[tuple[Any, ...] | None]:
    """``_id_tag_row`` for many (id tag, check concurrent, excluded transaction) in one statement:
    the rows in the same order, None for an unknown tag."""
    from core import sql  # a module name ``_id_tag_sql`` uses for its statement

    if not _ID_TAG_MANY_SQL:
        from transactions.models import Transaction

        user_model = IdTag._meta.get_field("user").related_model
        tags, users, txs = IdTag._meta.db_table, user_model._meta.db_table, Transaction._meta.db_table
        _ID_TAG_MANY_SQL.append(
            "SELECT v.i, t.status, t.expiry_date, t.user_id, u.is_active, p.id_tag, p.status, p.expiry_date, "
            f'v.concurrent AND EXISTS (SELECT 1 FROM "{txs}" tx WHERE tx.id_tag = v.tag AND tx.stopped_at IS NULL '
            "AND (v.exclude IS NULL OR tx.id <> v.exclude)) "
            "FROM ({values}) v(i, tag, concurrent, exclude) "
            f'JOIN "{tags}" t ON t.id_tag = v.tag LEFT JOIN "{users}" u ON u.id = t.user_id '
            f'LEFT JOIN "{tags}" p ON p.id = t.parent_id'
        )
    statement = _ID_TAG_MANY_SQL[0].format(values=sql.json_rows_select(("integer", "text", "boolean", "bigint"), len(wanted)))
    with sql.server_cursor() as cursor:
        cursor.execute(statement, [sql.json_rows([
            (i, tag, concurrent, exclude if concurrent else None) for i, (tag, concurrent, exclude) in enumerate(wanted)
        ])])
        found = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
    return [found.get(i) for i in range(len(wanted))]
