from django.apps import AppConfig


class HealthexportConfig(AppConfig):
    name = "healthexport"
    verbose_name = "healthexport"

    def ready(self) -> None:
        from healthexport import checks  # noqa: F401  (registers the system checks)
