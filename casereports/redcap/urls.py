"""/redcap/api/: the REDCap-compatible API (one address, as REDCap has)."""

from django.urls import path

from casereports.redcap import views

urlpatterns = [path("", views.api, name="redcap_api")]
