from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts import openapi, signals  # noqa: F401  (API-key scheme for drf-spectacular; audit receivers)
        from accounts.models import ApiKey, User
        from accounts.verify_cache import changed_on_save

        # A signal rather than calls in each writer: the admin's forms save keys and users too, and
        # a cached key must not outlive any of those changes (see verify_cache).
        for model in (ApiKey, User):
            post_save.connect(changed_on_save, sender=model, dispatch_uid=f"verify_cache.{model.__name__}")


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site as the default one (login throttled)."""

    default = False  # "accounts" in INSTALLED_APPS still means AccountsConfig
    default_site = "accounts.admin_site.HealthexportAdminSite"
