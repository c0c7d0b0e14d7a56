from django.urls import path

from metrics import views

urlpatterns = [
    path("metrics", views.MetricListView.as_view(), name="metric-list"),
    path("metrics/<str:name>", views.MetricDetailView.as_view(), name="metric-detail"),
    path("workouts", views.WorkoutListView.as_view(), name="workout-list"),
    path("workouts/<uuid:public_id>", views.WorkoutDetailView.as_view(), name="workout-detail"),
]
