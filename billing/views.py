"""Pages: a session's receipt, a monthly statement (and its CSV), the top-up return pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from accounts.models import Role, User
from billing.api.permissions import is_admin
from billing.exports import statement_csv, statement_filename
from billing.payments import guest_payment_from_token
from billing.selectors import Statement, receipt_get, statement_get
from core.exceptions import DomainError
from transactions.models import Transaction


def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner, an admin, or a guest holding the signed token of the session's payment."""
    tx = get_object_or_404(Transaction.objects.select_related("station", "connector"), pk=pk)
    token = request.GET.get("token", "")
    if token:
        try:
            allowed = guest_payment_from_token(token).transaction_id == tx.pk
        except DomainError:
            allowed = False
    else:
        user = request.user
        allowed = bool(user.is_authenticated and (is_admin(user) or tx.user_id == user.pk))
    if not allowed:
        if not request.user.is_authenticated and not token:
            return redirect_to_login(request.get_full_path())
        raise Http404
    if tx.stopped_at is None:
        raise Http404
    return render(request, "billing/receipt.html", {"receipt": receipt_get(transaction=tx), "tx": tx})


def _statement(request: HttpRequest, year: int, month: int) -> Statement:
    user: User = request.user  # type: ignore[assignment]
    id_tag = request.GET.get("id_tag", "")
    target: User | None = user
    if is_admin(user):
        if request.GET.get("user"):
            target = get_object_or_404(User, pk=request.GET["user"]) if request.GET["user"].isdigit() else None
            if target is None:
                raise Http404
        elif id_tag:
            target = None
    elif id_tag and not user.id_tags.filter(id_tag=id_tag).exists():
        raise Http404
    if user.role == Role.DEMO:
        raise PermissionDenied
    try:
        return statement_get(year=year, month=month, user=target, id_tag=id_tag)
    except DomainError:
        raise Http404 from None


@login_required
def statement(request: HttpRequest, year: int, month: int) -> HttpResponse:
    st = _statement(request, year, month)
    return render(request, "billing/statement.html", {
        "statement": st, "id_tags": list(request.user.id_tags.values_list("id_tag", flat=True)),  # type: ignore[union-attr]
        "now": timezone.now(),
    })


@login_required
def statement_download(request: HttpRequest, year: int, month: int) -> HttpResponse:
    st = _statement(request, year, month)
    response = HttpResponse(statement_csv(st), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statement_filename(st)}"'
    return response


def topup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/topup_result.html", {"ok": True})


def topup_cancelled(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/topup_result.html", {"ok": False})
