from django.urls import path

from saebom.registry import views

app_name = "registry"

urlpatterns = [
    path("", views.arrival_list, name="arrival_list"),
    path("new", views.arrival_new, name="arrival_new"),
    path("<int:arrival_id>/", views.arrival_detail, name="arrival_detail"),
    path("<int:arrival_id>/edit", views.arrival_edit, name="arrival_edit"),
    path("<int:arrival_id>/identifiers", views.identifiers, name="identifiers"),
    path("import/", views.import_start, name="import_start"),
    path("import/<int:job_id>/", views.import_status, name="import_status"),
    path("import/<int:job_id>/errors.csv", views.import_errors, name="import_errors"),
    path("export", views.export, name="export"),
]
