"""The patients' pages (namespace `selfreport`), under /report/. Fixed paths come before
`<site_code>/`."""

from django.urls import path

from casereports.selfreport import views

app_name = "selfreport"

urlpatterns = [
    path("", views.start, name="start"),
    path("consent/", views.consent, name="consent"),
    path("page/<str:form>/", views.form_page, name="form"),
    path("review/", views.review, name="review"),
    path("return/", views.return_with_code, name="return"),
    path("code.txt", views.code_download, name="code_download"),
    path("receipt/", views.receipt, name="receipt"),
    path("mine/", views.mine, name="mine"),
    path("mine/pdf/", views.pdf, name="pdf"),
    path("mine/withdraw/", views.withdraw, name="withdraw"),
    path("<slug:site_code>/", views.start, name="start_at"),
]
