from django.urls import include, path
from django.views.i18n import set_language

from saebom.api.api import api
from saebom.core.policy import public_route
from saebom.stats import views as stats_views

urlpatterns = [
    path("", include("saebom.web.urls")),
    path("arrivals/", include("saebom.registry.urls")),
    path("cases/", include("saebom.support.urls")),
    path("stats/", include("saebom.stats.urls")),
    path("testimonies/", include("saebom.testimony.urls")),
    path("public/stats", stats_views.public_statistics, name="public_statistics"),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", public_route(set_language), name="set_language"),
    path("api/v1/", api.urls),
]
