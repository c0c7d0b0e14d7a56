"""Admin building blocks for big, append-only tables."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.utils.functional import cached_property


class FixedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` rows (``SELECT count(*) FROM (… LIMIT cap)``), never the whole
    table: the first page of 10M events costs what the first page of 10k does. Past the cap the
    list says "10000" and the officer narrows it by date, filter or search."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.COUNT_CAP].count()


class ReadOnlyAdminMixin:
    """Read-only for real: add, change and delete refused for everyone, and the delete action gone."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = admin.ModelAdmin.get_actions(self, request)  # type: ignore[arg-type]
        actions.pop("delete_selected", None)
        return actions
