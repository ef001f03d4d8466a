from django.urls import path

from saebom.testimony import views

app_name = "testimony"

urlpatterns = [
    path("", views.testimony_list, name="testimony_list"),
    path("new", views.testimony_new, name="testimony_new"),
    path("corroboration/", views.corroboration, name="corroboration"),
    path("corroboration/link", views.corroborate, name="corroborate"),
    path("corroboration/acts/<int:act_id>/remove", views.uncorroborate, name="uncorroborate"),
    path("evidence/", views.evidence_list, name="evidence_list"),
    path("evidence/upload", views.evidence_upload, name="evidence_upload"),
    path("evidence/<str:public_id>/", views.evidence_detail, name="evidence_detail"),
    path("evidence/<str:public_id>/open", views.evidence_open, name="evidence_open"),
    path("evidence/<str:public_id>/download", views.evidence_download, name="evidence_download"),
    path(
        "evidence/<str:public_id>/working-copy",
        views.evidence_working_copy,
        name="evidence_working_copy",
    ),
    path("evidence/<str:public_id>/link", views.evidence_link, name="evidence_link"),
    path("places/", views.place_list, name="places"),
    path("places/new", views.place_create, name="place_create"),
    path("<str:public_id>/", views.testimony_detail, name="testimony_detail"),
    path("<str:public_id>/edit", views.testimony_update, name="testimony_update"),
    path("<str:public_id>/seal", views.testimony_seal, name="testimony_seal"),
    path("<str:public_id>/consent", views.consent_change, name="consent_change"),
    path("<str:public_id>/withdraw", views.consent_withdraw, name="consent_withdraw"),
    path("<str:public_id>/incidents", views.incident_add, name="incident_add"),
    path("<str:public_id>/incidents/<int:incident_id>/acts", views.act_add, name="act_add"),
    path("<str:public_id>/individuals", views.individual_add, name="individual_add"),
    path("<str:public_id>/evidence", views.testimony_evidence_link, name="evidence_attach"),
]
