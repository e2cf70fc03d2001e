"""Case pages (namespace `cases`). Fixed paths come before `<secret_name>/`."""

from django.urls import path

from casereports.selfreport import triage
from casereports.views import cases, entry, manage

app_name = "cases"

urlpatterns = [
    path("", cases.case_list, name="list"),
    path("new/", entry.new_case, name="new"),
    path("members/", manage.members, name="members"),
    path("patient-reports/", triage.triage_list, name="triage"),
    path("patient-reports/<str:secret_name>/", triage.triage_one, name="triage_one"),
    path("audit.csv", manage.audit_csv, name="audit_csv"),
    path("<str:secret_name>/", cases.case_detail, name="detail"),
    path("<str:secret_name>/history/", cases.case_history, name="history"),
    path("<str:secret_name>/form/<str:form>/", entry.edit_form, name="form"),
    path("<str:secret_name>/submit/", entry.submit, name="submit"),
    path("<str:secret_name>/lock/", cases.lock, name="lock"),
    path("<str:secret_name>/unlock/", cases.unlock, name="unlock"),
]
