from django.urls import path

from ingest.apple.views import imports_page

urlpatterns = [
    path("imports", imports_page, name="apple-imports-page"),
]
