from django.urls import include, path
from django.views.i18n import set_language

from saebom.api.api import api
from saebom.core.policy import public_route

urlpatterns = [
    path("", include("saebom.web.urls")),
    path("arrivals/", include("saebom.registry.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", public_route(set_language), name="set_language"),
    path("api/v1/", api.urls),
]
