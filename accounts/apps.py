from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self) -> None:
        from accounts import openapi, signals  # noqa: F401  (API-key scheme for drf-spectacular; audit receivers)


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site as the default one (login throttled)."""

    default = False  # "accounts" in INSTALLED_APPS still means AccountsConfig
    default_site = "accounts.admin_site.HealthexportAdminSite"
