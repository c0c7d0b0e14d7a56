"""The admin site: failed sign-ins throttled (``accounts.login_throttle``), and a staff dashboard
on its index page.

Installed as the default site by ``accounts.apps.AdminConfig`` (in ``INSTALLED_APPS`` in place
of ``django.contrib.admin``), so every ``@admin.register`` and ``admin.site`` use it unchanged.
Apps add dashboard panels with ``admin.site.register_panel(...)`` from their ``admin.py``: the
site knows no app's models, each panel is shown to whoever holds its permission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.login_throttle import ThrottledLoginFormMixin, with_throttled_status


class AdminLoginForm(ThrottledLoginFormMixin, AdminAuthenticationForm):
    pass


@dataclass(frozen=True)
class PanelRow:
    cells: tuple[Any, ...]  # text, or format_html output for links
    flagged: bool = False  # highlighted: needs someone's attention (a stale user)


@dataclass(frozen=True)
class PanelTable:
    """What a panel shows: a table, a line when it is empty, and optionally a link to everything."""

    columns: tuple[str, ...]
    rows: list[PanelRow]
    empty: str
    note: str = ""
    more_url: str = ""
    more_text: str = "all"


@dataclass(frozen=True)
class DashboardPanel:
    title: str
    permission: str
    build: Callable[[], PanelTable]
    order: int = 100


class HealthexportAdminSite(admin.AdminSite):
    login_form = AdminLoginForm
    index_template = "admin/dashboard_index.html"
    # The lists are wide (keys, exports, the trail): at 1280 px the side bar would push them to scrolling.
    enable_nav_sidebar = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._panels: list[DashboardPanel] = []

    def register_panel(self, panel: DashboardPanel) -> None:
        self._panels.append(panel)
        self._panels.sort(key=lambda p: p.order)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return with_throttled_status(super().login(request, extra_context))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        panels = [(panel.title, panel.build()) for panel in self._panels if request.user.has_perm(panel.permission)]
        return super().index(request, {"dashboard_panels": panels, **(extra_context or {})})
