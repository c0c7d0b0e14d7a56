from django.urls import path

from ingest.apple.views import ImportDetailView, ImportListView
from ingest.views import IngestView

urlpatterns = [
    path("ingest", IngestView.as_view(), name="ingest"),
    path("imports", ImportListView.as_view(), name="apple-imports"),
    path("imports/<uuid:public_id>", ImportDetailView.as_view(), name="apple-import-detail"),
]
