from django.apps import AppConfig


class WebConfig(AppConfig):
    """The data owner's own pages: overview, metrics, sleep, workouts, syncs, keys."""

    name = "web"
    verbose_name = "Owner pages"
