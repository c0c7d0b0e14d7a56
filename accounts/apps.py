from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts import openapi  # noqa: F401  (registers the API-key scheme with drf-spectacular)
        from accounts.models import ApiKey, User
        from accounts.verify_cache import changed_on_save

        # A signal rather than calls in each writer: the admin's forms save keys and users too, and
        # a cached key must not outlive any of those changes (see verify_cache).
        for model in (ApiKey, User):
            post_save.connect(changed_on_save, sender=model, dispatch_uid=f"verify_cache.{model.__name__}")
