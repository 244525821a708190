"""The password reset page a reset e-mail links to (the app uses the JSON endpoint instead)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services
from core.exceptions import InvalidInput


@never_cache
@sensitive_post_parameters("password", "password2")
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    context: dict[str, object] = {"errors": [], "done": False, "valid": True}
    try:
        services.password_reset_user(uid=uidb64, token=token)
    except InvalidInput as exc:
        context.update(valid=False, errors=[str(exc.message)])
        return render(request, "accounts/password_reset_confirm.html", context, status=400)
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            from django.utils.translation import gettext as _

            context["errors"] = [_("The two passwords differ.")]
        else:
            try:
                services.password_reset_confirm(uid=uidb64, token=token, password=password)
            except InvalidInput as exc:
                fields = exc.extra.get("errors", {})
                context["errors"] = [m for msgs in fields.values() for m in msgs] or [str(exc.message)]
            else:
                context["done"] = True
        status = 200 if context["done"] else 400
        return render(request, "accounts/password_reset_confirm.html", context, status=status)
    return render(request, "accounts/password_reset_confirm.html", context)
