"""The operator's live pages. Thin: parse, call a selector or service, render.

Every page is for staff (admin and super admin) only; a driver who logs in gets a 403 page that
says so. Live numbers arrive over /ws/dashboard/ (dashboard.consumers) after the first render.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Role, User
from core.exceptions import DomainError
from dashboard import forms
from dashboard.exports import report_csv as build_report_csv
from dashboard.exports import transactions_csv
from dashboard.middleware import user_time_zone
from dashboard.services import station_form_save
from dashboard.selectors import (
    monthly_report,
    station_active_transaction,
    station_overview,
    transaction_curve,
    transaction_search,
)
from stations.models import Command, Station, StationStatus
from transactions.models import Transaction

View = Callable[..., HttpResponse]


def operator_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
        if not request.user.is_staff:
            return render(request, "dashboard/refused.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


class DashboardLoginView(LoginView):
    template_name = "dashboard/login.html"
    redirect_authenticated_user = False
    next_page = reverse_lazy("dashboard:overview")


logout_view = LogoutView.as_view(next_page=reverse_lazy("dashboard:login"))


def _map_settings() -> dict[str, Any]:
    return {"tile_url": settings.CSMS_MAP_TILE_URL}


@operator_required
def overview(request: HttpRequest) -> HttpResponse:
    rows = station_overview(now=timezone.now())
    markers = [
        {
            "charge_point_id": r.station.charge_point_id,
            "name": str(r.station),
            "lat": float(r.station.latitude),
            "lng": float(r.station.longitude),
            "status": r.status,
            "url": reverse("dashboard:station", args=[r.station.pk]),
        }
        for r in rows
        if r.station.latitude is not None and r.station.longitude is not None
    ]
    return render(request, "dashboard/overview.html", {
        "nav": "overview",
        "rows": rows,
        "tiles": [t for r in rows for t in r.tiles],
        "markers": markers,
        "map": _map_settings(),
        "status_labels": dict(StationStatus.choices),
    })


@operator_required
def station_detail(request: HttpRequest, pk: int) -> HttpResponse:
    station = get_object_or_404(Station, pk=pk)
    connectors = list(station.connectors.filter(connector_id__gt=0).order_by("connector_id"))
    active = station_active_transaction(station=station)
    status = station.compute_status(connectors)
    return render(request, "dashboard/station.html", {
        "nav": "overview",
        "station": station,
        "status": status,
        "status_label": StationStatus(status).label,
        "connectors": connectors,
        "active": active,
        "curve": transaction_curve(transaction=active) if active else [],
        "recent": Transaction.objects.filter(station=station).select_related("connector", "user")
        .order_by("-started_at", "-id")[:10],
        "commands": Command.objects.filter(station=station).select_related("requested_by")[:10],
    })


@operator_required
def station_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    station = get_object_or_404(Station, pk=pk) if pk is not None else None
    form = forms.StationForm(request.POST or None, instance=station)
    formset = forms.ConnectorFormSet(request.POST or None, instance=form.instance, prefix="connectors")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        saved = station_form_save(form=form, formset=formset)
        messages.success(request, _("Station %(name)s saved.") % {"name": saved})
        return redirect("dashboard:station", pk=saved.pk)
    return render(request, "dashboard/station_form.html", {"nav": "overview", "form": form, "formset": formset, "station": station})


@operator_required
def user_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    role = request.GET.get("role", "")
    users = User.objects.order_by("email")
    if q:
        users = users.filter(Q(email__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q))
    if role in Role.values:
        users = users.filter(role=role)
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    return render(request, "dashboard/users.html", {
        "nav": "users",
        "page": page, "q": q, "role": role, "roles": Role.choices,
        "querystring": _querystring(request),
    })


@operator_required
def user_balances(request: HttpRequest) -> JsonResponse:
    """Balances of the users a page shows (``?ids=1,2``): read again after a session is settled."""
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()][:200]
    rows = User.objects.filter(pk__in=ids).values_list("pk", "balance", "currency")
    return JsonResponse({"balances": {str(pk): {"balance": f"{balance:.2f}", "currency": currency}
                                      for pk, balance, currency in rows}})


@require_POST
@operator_required
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    from accounts.services import user_admin_update

    target = get_object_or_404(User, pk=pk)
    role = request.POST.get("role", "")
    if role not in Role.values:
        messages.error(request, _("Unknown role."))
    else:
        try:
            user_admin_update(actor=request.user, user=target, role=role)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("%(email)s is now %(role)s.") % {"email": target.email,
                                                                        "role": Role(role).label})
    return redirect(request.POST.get("next") or reverse("dashboard:users"))


def _year(request: HttpRequest) -> int:
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    return min(max(year, 2000), 2100)


def _report(request: HttpRequest) -> tuple[int, str, list[Any]]:
    year = _year(request)
    station = request.GET.get("station", "")
    return year, station, monthly_report(year=year, tz=user_time_zone(request.user), station=station)


def _report_json(year: int, months: list[Any]) -> dict[str, Any]:
    return {
        "year": year,
        "currency": settings.CSMS_CURRENCY,
        "months": [{"month": m.month, "sessions": m.sessions, "energy_kwh": round(m.energy_wh / 1000, 3),
                    "revenue": f"{m.revenue:.2f}"} for m in months],
        "total": {"sessions": sum(m.sessions for m in months),
                  "energy_kwh": round(sum(m.energy_wh for m in months) / 1000, 3),
                  "revenue": f"{sum((m.revenue for m in months), start=0):.2f}"},
    }


@operator_required
def report(request: HttpRequest) -> HttpResponse:
    year, station, months = _report(request)
    this_year = timezone.localdate().year
    return render(request, "dashboard/report.html", {
        "nav": "report",
        "year": year, "station": station, "months": months, "data": _report_json(year, months),
        "years": list(range(this_year, this_year - 6, -1)),
        "month_names": [str(MONTHS[m]) for m in range(1, 13)],
        "stations": Station.objects.order_by("charge_point_id").values_list("charge_point_id", flat=True),
        "querystring": _querystring(request),
    })


@operator_required
def report_data(request: HttpRequest) -> JsonResponse:
    year, _station, months = _report(request)
    return JsonResponse(_report_json(year, months))


@operator_required
def report_csv(request: HttpRequest) -> HttpResponse:
    year, _station, months = _report(request)
    return build_report_csv(year, months, settings.CSMS_CURRENCY)


def _transactions(request: HttpRequest) -> tuple[forms.TransactionFilterForm, Any]:
    form = forms.TransactionFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = transaction_search(
        station=data.get("station") or "", active=data.get("active") or "", q=data.get("q") or "",
        date_from=data.get("date_from"), date_to=data.get("date_to"), tz=user_time_zone(request.user),
    )
    return form, qs


@operator_required
def transaction_list(request: HttpRequest) -> HttpResponse:
    form, qs = _transactions(request)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(request, "dashboard/transactions.html", {
        "nav": "transactions",
        "form": form, "page": page, "querystring": _querystring(request),
    })


@operator_required
def transaction_csv(request: HttpRequest) -> HttpResponse:
    _form, qs = _transactions(request)
    return transactions_csv(qs.iterator(chunk_size=2000))


def _querystring(request: HttpRequest) -> str:
    """The current filters without the page number, for pagination links and CSV downloads."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
