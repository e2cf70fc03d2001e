from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from gdsi.health import healthz

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("casereports.accounts.urls")),
    path("cases/", include("casereports.urls")),
    path("report/", include("casereports.selfreport.urls")),
    path("imports/", include("casereports.imports.urls")),
    path("quality/", include("casereports.quality.urls")),
    path("exports/", include("exports.urls")),
    path("api/v1/", include("casereports.api.urls")),
    path("redcap/api/", include("casereports.redcap.urls")),
    path("admin/", admin.site.urls),
]
