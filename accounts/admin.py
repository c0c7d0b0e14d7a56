"""Users, and the API keys staff issue and revoke for them. Key creation and revocation go through the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts import ratelimit
from accounts.keys import prefix_of
from accounts.models import ApiKey, User
from accounts.password_links import password_link_create
from accounts.services import api_key_create, api_key_revoke

CHANGE_KEY_FIELDS = (
    "owner",
    "name",
    "prefix_display",
    "scopes_display",
    "status",
    "created_at",
    "created_by",
    "last_used_at",
    "last_used_ip",
    "expires_at",
    "revoked_at",
    "revoked_by",
    "ratelimit_requests_per_hour",
    "ratelimit_bytes_per_hour",
    "effective_limits",
)
# Everything but the name and the per-key rate-limit overrides; the hash is never shown.
EDITABLE_KEY_FIELDS = ("name", "ratelimit_requests_per_hour", "ratelimit_bytes_per_hour")
READ_ONLY_KEY_FIELDS = tuple(field for field in CHANGE_KEY_FIELDS if field not in EDITABLE_KEY_FIELDS)
HAE_EXPORT_FORMAT = "JSON"
HAE_EXPORT_VERSION = "2"


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.INGEST, ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ("owner", "name", "scopes", "expires_at")

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return ApiKey.Status.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        by_status = {
            ApiKey.Status.ACTIVE: queryset.active,
            ApiKey.Status.REVOKED: queryset.revoked,
            ApiKey.Status.EXPIRED: queryset.expired,
        }
        return by_status[self.value()]() if self.value() in by_status else queryset


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return ApiKey.Scope.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() not in ApiKey.Scope.values:
            return queryset
        # A text match on the JSON list works on PostgreSQL and SpatiaLite alike (no scope name contains another).
        return queryset.filter(scopes__icontains=f'"{self.value()}"')


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "prefix_display",
        "scopes_display",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    )
    list_filter = (
        StatusFilter,
        ScopeFilter,
    )
    list_select_related = ("owner",)
    search_fields = (
        "prefix",
        "owner__username",
        "name",
    )
    autocomplete_fields = ("owner",)
    ordering = ("-created_at",)
    actions = ("revoke_selected",)
    change_form_template = "admin/accounts/apikey/change_form.html"

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, api_key: ApiKey) -> str:
        return f"hx_{api_key.prefix}_…"

    @admin.display(description="scopes")
    def scopes_display(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    @admin.display(description="status")
    def status(self, api_key: ApiKey) -> str:
        return api_key.status

    @admin.display(description="effective rate limits")
    def effective_limits(self, api_key: ApiKey) -> str:
        limits = ratelimit.effective_limits(api_key)
        return f"{limits.requests} requests and {limits.bytes} body bytes per sliding hour (blank overrides: defaults)"

    # --- which fields, and who may change what ----------------------------------------------

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ApiKeyCreateForm.Meta.fields
        return CHANGE_KEY_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else READ_ONLY_KEY_FIELDS

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # A revoked key is shown read-only: nothing can bring it back to life.
        if obj is not None and obj.is_revoked:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # keys are revoked, never deleted: the audit trail points at them

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ApiKey], search_term: str
    ) -> tuple[QuerySet[ApiKey], bool]:
        """A pasted ``hx_<prefix>_…`` searches by its prefix (the secret never reaches a query)."""
        if search_term.startswith("hx_"):
            search_term = prefix_of(search_term)
        return super().get_search_results(request, queryset, search_term)

    # --- create: through the service, plaintext shown once ----------------------------------

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> ApiKey:
        if change:
            return super().save_form(request, form, change)
        api_key, plaintext = api_key_create(
            owner=form.cleaned_data["owner"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            expires_at=form.cleaned_data["expires_at"],
            request=request,
        )
        # Only this request ever holds the plaintext; response_add renders it and it is gone.
        request._api_key_plaintext = plaintext
        return api_key

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "plaintext": request._api_key_plaintext,
            "ingest_url": request.build_absolute_uri("/v1/ingest"),
            "export_format": HAE_EXPORT_FORMAT,
            "export_version": HAE_EXPORT_VERSION,
        }
        response = TemplateResponse(request, "admin/accounts/apikey/created.html", context)
        add_never_cache_headers(response)  # the key must not survive in any cache or the back button
        return response

    # --- revoke: per object and in bulk, both confirmed ------------------------------------

    def get_urls(self) -> list:
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="accounts_apikey_revoke",
        )
        return [revoke, *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not super().has_change_permission(request):
            raise PermissionDenied
        api_key = get_object_or_404(ApiKey.objects.select_related("owner"), pk=object_id)
        if request.method == "POST":
            return self._revoke_and_report(request, [api_key])
        return self._confirm_revoke(request, [api_key], action=None)

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> HttpResponse | None:
        api_keys = list(queryset.select_related("owner"))
        if request.POST.get("post") == "yes":
            self._revoke_and_report(request, api_keys)
            return None
        return self._confirm_revoke(request, api_keys, action="revoke_selected")

    def _confirm_revoke(self, request: HttpRequest, api_keys: list[ApiKey], *, action: str | None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Revoke API keys",
            "api_keys": api_keys,
            "live_keys": [k for k in api_keys if not k.is_revoked],
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/accounts/apikey/revoke_confirmation.html", context)

    def _revoke_and_report(self, request: HttpRequest, api_keys: list[ApiKey]) -> HttpResponse:
        revoked = sum(api_key_revoke(api_key=k, revoked_by=request.user, request=request) for k in api_keys)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_apikey_changelist"))


class ApiKeyInline(admin.TabularInline):
    """A user's keys, read-only: keys are issued and revoked from the API key admin."""

    model = ApiKey
    fk_name = "owner"
    fields = ("name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    )
    readonly_fields = ("public_id",)
    actions = ("create_password_link",)

    @admin.action(description="Create a one-time set-password link", permissions=["change"])
    def create_password_link(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        """For one owner: a link to set their password (no e-mail server needed), shown once."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one user to create a set-password link.", messages.WARNING)
            return None
        owner = queryset.get()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Set-password link",
            "owner": owner,
            "link": password_link_create(user=owner, created_by=request.user, request=request),
            "expires_at": timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
        }
        response = TemplateResponse(request, "admin/accounts/user/password_link.html", context)
        add_never_cache_headers(response)  # the link must not survive in any cache or the back button
        return response

    def get_inlines(self, request: HttpRequest, obj: User | None) -> tuple:
        return (ApiKeyInline,) if obj is not None else ()
