from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

import healthexport.openapi  # noqa: F401  (registers the schema extensions)
from metrics import views

urlpatterns = [
    path("metrics", views.MetricListView.as_view(), name="metric-list"),
    path("metrics/<str:name>", views.MetricDetailView.as_view(), name="metric-detail"),
    path("workouts", views.WorkoutListView.as_view(), name="workout-list"),
    path("workouts/<uuid:public_id>", views.WorkoutDetailView.as_view(), name="workout-detail"),
    path("export", views.ExportView.as_view(), name="export"),
    # Public: they describe the API and hold no data.
    path("schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs",
        SpectacularRedocView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
]
