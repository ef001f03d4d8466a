from django.urls import path

from saebom.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/verify", views.audit_verify_view, name="audit_verify"),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path(
        "account/tokens/<int:token_id>/revoke", views.api_token_revoke_view, name="api_token_revoke"
    ),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/deactivate", views.user_deactivate_view, name="user_deactivate"),
]
