from django.urls import path

from saebom.stats import views

app_name = "stats"

urlpatterns = [
    path("", views.statistics, name="statistics"),
    path("download", views.download, name="download"),
    path("reconciliation", views.reconciliation_view, name="reconciliation"),
]
