from django.urls import path

from ingest import owner_views as views

urlpatterns = [
    path("stats", views.StatsView.as_view(), name="stats"),
    path("ingestions", views.IngestionListView.as_view(), name="ingestion-list"),
    path("ingestions/<uuid:public_id>", views.IngestionDetailView.as_view(), name="ingestion-detail"),
    path("data", views.DataView.as_view(), name="data"),
    path("export", views.ExportView.as_view(), name="export"),
]
