"""Id-tag authorization: what the CSMS answers to Authorize, StartTransaction and StopTransaction.

The OCPP 1.6 ``IdTagInfo`` statuses: Accepted, Blocked, Expired, Invalid, ConcurrentTx.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

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
    """
    from transactions.models import Transaction

    tag = IdTag.objects.select_related("user", "parent").filter(id_tag=id_tag).first()
    if tag is None:
        return IdTagInfo(status=INVALID)
    parent = tag.parent.id_tag if tag.parent_id and tag.parent else None
    user_id = tag.user_id
    if tag.status == IdTagStatus.BLOCKED or (tag.user is not None and not tag.user.is_active):
        return IdTagInfo(status=BLOCKED, parent_id_tag=parent, user_id=user_id)
    if tag.is_expired(now):
        return IdTagInfo(status=EXPIRED, expiry_date=tag.expiry_date, parent_id_tag=parent, user_id=user_id)
    if tag.parent_id and tag.parent is not None:
        # A child card is as good as its group (OCPP parentIdTag).
        if tag.parent.status == IdTagStatus.BLOCKED:
            return IdTagInfo(status=BLOCKED, parent_id_tag=parent, user_id=user_id)
        if tag.parent.is_expired(now):
            return IdTagInfo(status=EXPIRED, parent_id_tag=parent, user_id=user_id)
    if check_concurrent:
        active = Transaction.objects.filter(id_tag=id_tag, stopped_at__isnull=True)
        if exclude_transaction_id is not None:
            active = active.exclude(pk=exclude_transaction_id)
        if active.exists():
            return IdTagInfo(status=CONCURRENT_TX, expiry_date=tag.expiry_date, parent_id_tag=parent, user_id=user_id)
    return IdTagInfo(status=ACCEPTED, expiry_date=tag.expiry_date, parent_id_tag=parent, user_id=user_id)
