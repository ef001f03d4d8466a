from django.urls import path

from saebom.support import views

app_name = "support"

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("new", views.case_new, name="case_new"),
    path("referrals/", views.referral_inbox, name="referrals"),
    path("referrals/<int:referral_id>/accept", views.referral_accept, name="referral_accept"),
    path("referrals/<int:referral_id>/decline", views.referral_decline, name="referral_decline"),
    path("referrals/<int:referral_id>/end", views.referral_end, name="referral_end"),
    path("outcomes/", views.outcomes, name="outcomes"),
    path("rates/", views.rates, name="rates"),
    path("rates/set", views.rate_set, name="rate_set"),
    path("<str:public_id>/", views.case_detail, name="case_detail"),
    path("<str:public_id>/update", views.case_update, name="case_update"),
    path("<str:public_id>/members", views.member_set, name="member_set"),
    path(
        "<str:public_id>/members/<int:user_id>/remove",
        views.member_remove,
        name="member_remove",
    ),
    path("<str:public_id>/milestones", views.milestone_record, name="milestone_record"),
    path("<str:public_id>/protection", views.protection_extend, name="protection_extend"),
    path("<str:public_id>/officers", views.officer_set, name="officer_set"),
    path("<str:public_id>/household", views.household_add, name="household_add"),
    path("<str:public_id>/assessments", views.assessment_record, name="assessment_record"),
    path("<str:public_id>/goals", views.goal_add, name="goal_add"),
    path("<str:public_id>/goals/<int:goal_id>", views.goal_update, name="goal_update"),
    path("<str:public_id>/services", views.service_add, name="service_add"),
    path(
        "<str:public_id>/services/<int:service_id>",
        views.service_update,
        name="service_update",
    ),
    path("<str:public_id>/payments", views.payment_record, name="payment_record"),
    path("<str:public_id>/referrals", views.referral_send, name="referral_send"),
    path(
        "<str:public_id>/referrals/<int:referral_id>/revoke",
        views.referral_revoke,
        name="referral_revoke",
    ),
    path("<str:public_id>/followups", views.followup_schedule, name="followup_schedule"),
    path(
        "<str:public_id>/followups/<int:followup_id>",
        views.followup_update,
        name="followup_update",
    ),
    path("<str:public_id>/notes", views.note_add, name="note_add"),
    path("<str:public_id>/notes/consent", views.notes_consent, name="notes_consent"),
    path("<str:public_id>/outcomes", views.outcome_record, name="outcome_record"),
]
