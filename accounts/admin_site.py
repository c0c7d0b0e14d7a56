"""The admin site, with failed sign-ins throttled (``accounts.login_throttle``).

Installed as the default site by ``accounts.apps.AdminConfig`` (in ``INSTALLED_APPS`` in place
of ``django.contrib.admin``), so every ``@admin.register`` and ``admin.site`` use it unchanged.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from accounts.login_throttle import ThrottledLoginFormMixin, with_throttled_status


class AdminLoginForm(ThrottledLoginFormMixin, AdminAuthenticationForm):
    pass


class HealthexportAdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return with_throttled_status(super().login(request, extra_context))
