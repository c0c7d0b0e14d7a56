from django.urls import path

from ingest.web import views

urlpatterns = [
    path("login", views.OwnerLoginView.as_view(), name="login"),
    path("logout", views.logout_view, name="logout"),
    path("set-password/<str:uidb64>/<str:token>", views.set_password_view, name="set-password"),
    path("", views.overview, name="overview"),
    path("metrics/<str:name>", views.metric_page, name="metric"),
    path("sleep", views.sleep_page, name="sleep"),
    path("workouts", views.workout_list_page, name="workouts"),
    path("workouts/<uuid:public_id>", views.workout_page, name="workout"),
    path("syncs", views.syncs_page, name="syncs"),
    path("keys", views.keys_page, name="keys"),
    path("keys/<uuid:public_id>/revoke", views.key_revoke_page, name="key-revoke"),
]
