from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from healthexport.views import HealthView, ReadyView, metrics_view

admin.site.site_header = "healthexport administration"
admin.site.site_title = "healthexport"
admin.site.index_title = "Health data service"
admin.site.site_url = None  # there is no public site to link to: the API is for the app

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("ready", ReadyView.as_view(), name="ready"),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("v1/", include("ingest.urls")),
    path("admin/", admin.site.urls),
    path("v1/", include("metrics.urls")),
    path("v1/", include("ingest.owner_urls")),
    # Owner web pages (session sign-in).
    path("", include("ingest.apple.web_urls")),
    # Public: they describe the API and hold no data.
    path("v1/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "v1/docs",
        SpectacularRedocView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    # The owner's pages: /login, /, /metrics/<name>, /sleep, /workouts, /syncs, /keys, …
    path("", include("ingest.web.urls")),
]

handler400 = "healthexport.errors.bad_request"
handler403 = "healthexport.errors.permission_denied"
handler404 = "healthexport.errors.page_not_found"
handler500 = "healthexport.errors.server_error"
