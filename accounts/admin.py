"""Users, and the API keys staff issue and revoke for them. Key creation and revocation go through the services."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import segno
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
from django.utils.html import format_html

from accounts import ratelimit
from accounts.admin_site import DashboardPanel, PanelRow, PanelTable
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
# The app settings README "Set up Health Auto Export" recommends, shown with a new key.
HAE_SETTINGS = (
    ("Data type", "Health Metrics; Workouts, Symptoms, State of Mind, ECG… as you like"),
    ("Export format", "JSON"),
    ("Export version", "Version 2"),
    ("Date range", "Since last sync (Previous 7 days is fine too: re-sent data is recognised)"),
    ("Sync cadence", "Every hour"),
    ("Batch requests", "On (for large backfills: each request is stored on its own)"),
    ("Include workout metrics / routes", "On"),
)
# A new key waits in the creator's session for the page that shows it, at most this long, and is
# deleted from there when shown: a reload (or the back button) finds nothing and creates nothing.
NEW_KEY_SESSION = "accounts.new_api_keys"
NEW_KEY_SECONDS = 300
MIB = 1024 * 1024

KEY_HELP_TEXTS = {
    "owner": "The user whose data the key sends and reads. Keys are per person: one owner each.",
    "name": "A label to tell keys apart, e.g. the phone it is on.",
    "scopes": "ingest: POST /v1/ingest (the app). read: the owner API. delete: the owner's deletes.",
    "expires_at": "Optional. After this time the key is refused. Leave empty for a key that does not expire.",
    "prefix_display": "The key's public part: it names the key in this admin, the audit trail and the logs.",
    "scopes_display": "What the key may do (fixed when it is issued: issue a new key for other scopes).",
    "status": "active, expired (past its expiry) or revoked (refused for good).",
    "created_at": "When the key was issued.",
    "created_by": "The staff member who issued it (empty: the command line).",
    "last_used_at": "The last accepted request, to the minute.",
    "last_used_ip": "The client address of that request.",
    "revoked_at": "When the key was revoked; empty while it is not.",
    "revoked_by": "Who revoked it (empty: the command line).",
    "ratelimit_requests_per_hour": "Requests per sliding hour for this key. Empty: the server default.",
    "ratelimit_bytes_per_hour": "Body size per sliding hour for this key, in MiB (decimals allowed). "
    "Empty: the server default.",
    "effective_limits": "What applies now: these overrides, else the server defaults.",
}


def _short_time(moment: Any) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "—"


def mebibytes(value: int) -> str:
    """10485760 → "10 MiB", 1572864 → "1.5 MiB"."""
    return f"{value / MIB:.2f}".rstrip("0").rstrip(".") + " MiB"


class MebibytesField(forms.DecimalField):
    """Shown and typed in MiB, stored in bytes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=Decimal("0.01"), decimal_places=2, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return Decimal(value) / MIB if isinstance(value, int) else value

    def clean(self, value: Any) -> int | None:
        amount = super().clean(value)
        return None if amount is None else int(amount * MIB)


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.INGEST, ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text=KEY_HELP_TEXTS["scopes"],
    )

    class Meta:
        model = ApiKey
        fields = ("owner", "name", "scopes", "expires_at")
        help_texts = KEY_HELP_TEXTS

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


class ApiKeyChangeForm(forms.ModelForm):
    ratelimit_bytes_per_hour = MebibytesField(
        required=False, label="Ratelimit MiB per hour", help_text=KEY_HELP_TEXTS["ratelimit_bytes_per_hour"]
    )

    class Meta:
        model = ApiKey
        fields = EDITABLE_KEY_FIELDS
        help_texts = KEY_HELP_TEXTS


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
        "status",
        "last_used",
        "expires",
        "limits",
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
        return format_html('<span class="key-status key-status-{0}">{0}</span>', api_key.status)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, api_key: ApiKey) -> str:
        return _short_time(api_key.last_used_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, api_key: ApiKey) -> str:
        return _short_time(api_key.expires_at)

    @admin.display(description="rate limits")
    def limits(self, api_key: ApiKey) -> str:
        limits = ratelimit.effective_limits(api_key)
        custom = api_key.ratelimit_requests_per_hour is not None or api_key.ratelimit_bytes_per_hour is not None
        return f"{limits.requests} req, {mebibytes(limits.bytes)} /h" + (" (raised)" if custom else "")

    @admin.display(description="effective rate limits")
    def effective_limits(self, api_key: ApiKey) -> str:
        limits = ratelimit.effective_limits(api_key)
        return f"{limits.requests} requests and {mebibytes(limits.bytes)} of bodies per sliding hour"

    # --- which fields, and who may change what ----------------------------------------------

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ApiKeyCreateForm.Meta.fields
        return CHANGE_KEY_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else READ_ONLY_KEY_FIELDS

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = ApiKeyCreateForm if obj is None else ApiKeyChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def _page_context(self, extra_context: dict[str, Any] | None) -> dict[str, Any]:
        """Every key page warns when PUBLIC_URL is unset: it could not tell a phone where to send."""
        return {"public_url_missing": not settings.PUBLIC_URL, **(extra_context or {})}

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, self._page_context(extra_context))

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, obj: ApiKey | None = None, **kwargs: Any
    ) -> HttpResponse:
        context = self._page_context(context)
        if obj is not None and request.user.has_perm("audit.view_auditevent"):
            context["audit_url"] = audit_search_url(obj.prefix)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

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
        # Held until response_add puts it in the session for the one page that shows it.
        request._api_key_plaintext = plaintext
        return api_key

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """POST/redirect/GET: the key goes to the creator's session, the browser to the page that
        shows it. Reloading that page repeats a GET, which finds the key gone and creates nothing."""
        waiting = {
            pk: entry for pk, entry in request.session.get(NEW_KEY_SESSION, {}).items() if entry["until"] > time.time()
        }
        waiting[str(obj.pk)] = {"key": request._api_key_plaintext, "until": time.time() + NEW_KEY_SECONDS}
        request.session[NEW_KEY_SESSION] = waiting
        return HttpResponseRedirect(reverse("admin:accounts_apikey_created", args=[obj.pk]), status=303)

    def created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        api_key = get_object_or_404(ApiKey.objects.select_related("owner"), pk=object_id)
        waiting = request.session.get(NEW_KEY_SESSION, {})
        entry = waiting.pop(str(api_key.pk), None)
        if entry is not None:
            request.session[NEW_KEY_SESSION] = waiting  # deleted from the session as it is shown
        plaintext = entry["key"] if entry is not None and entry["until"] > time.time() else None
        ingest_url = f"{settings.PUBLIC_URL}/v1/ingest" if settings.PUBLIC_URL else None
        context = {
            **self.admin_site.each_context(request),
            **self._page_context(None),
            "opts": self.opts,
            "title": "API key created" if plaintext else "This key can no longer be displayed",
            "api_key": api_key,
            "plaintext": plaintext,
            "qr_code": segno.make(plaintext, error="m").svg_data_uri(scale=5, border=2) if plaintext else None,
            "ingest_url": ingest_url,
            "hae_settings": HAE_SETTINGS,
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
        created = path(
            "<path:object_id>/created/",
            self.admin_site.admin_view(self.created_view),
            name="accounts_apikey_created",
        )
        return [revoke, created, *super().get_urls()]

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


def audit_search_url(term: str) -> str:
    """The audit trail searched for ``term``: every event of a key (by prefix) or user (by name)."""
    return f"{reverse('admin:audit_auditevent_changelist')}?{urlencode({'q': term})}"


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
    change_form_template = "admin/accounts/user/change_form.html"
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

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, obj: User | None = None, **kwargs: Any
    ) -> HttpResponse:
        if obj is not None:
            if request.user.has_perm("accounts.add_apikey"):
                context["add_key_url"] = f"{reverse('admin:accounts_apikey_add')}?{urlencode({'owner': obj.pk})}"
            if request.user.has_perm("audit.view_auditevent"):
                context["audit_url"] = audit_search_url(obj.username)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


# --- The staff dashboard: keys about to stop working ---------------------------------------------

EXPIRING_WITHIN_DAYS = 30


def _expiring_keys_panel() -> PanelTable:
    now = timezone.now()
    expiring = (
        ApiKey.objects.active()
        .filter(expires_at__lte=now + timedelta(days=EXPIRING_WITHIN_DAYS))
        .select_related("owner")
        .order_by("expires_at")[:50]
    )
    rows = [
        PanelRow(
            (
                format_html('<a href="{}">{}</a>', reverse("admin:accounts_apikey_change", args=[k.pk]), k.name),
                k.owner.username,
                f"hx_{k.prefix}_…",
                f"{timezone.localtime(k.expires_at):%Y-%m-%d %H:%M %Z}",
            ),
            k.expires_at <= now + timedelta(days=7),
        )
        for k in expiring
    ]
    return PanelTable(
        columns=("key", "owner", "prefix", "expires"),
        rows=rows,
        empty=f"No key expires within {EXPIRING_WITHIN_DAYS} days.",
        note="Issue a new key and put it on the phone before the old one expires.",
    )


admin.site.register_panel(
    DashboardPanel(
        f"Keys expiring within {EXPIRING_WITHIN_DAYS} days", "accounts.view_apikey", _expiring_keys_panel, order=40
    )
)
