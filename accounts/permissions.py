"""Scope permissions: the key that authenticated the request must carry the view's scope (else 403)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey


class ScopePermission(BasePermission):
    """Base class; subclasses name one ``scope``. No key at all leaves DRF to answer 401."""

    scope: str

    @property
    def message(self) -> str:
        return f"This API key lacks the '{self.scope}' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        return isinstance(api_key, ApiKey) and self.scope in api_key.scopes


def has_scope(scope: str) -> type[ScopePermission]:
    """A permission class for ``scope``, e.g. ``permission_classes = [has_scope("read")]``."""
    if scope not in ApiKey.Scope.values:
        raise ValueError(f"Unknown scope {scope!r}")
    return type(f"Has{scope.title()}Scope", (ScopePermission,), {"scope": scope})


IngestScope = has_scope(ApiKey.Scope.INGEST)
ReadScope = has_scope(ApiKey.Scope.READ)
DeleteScope = has_scope(ApiKey.Scope.DELETE)
