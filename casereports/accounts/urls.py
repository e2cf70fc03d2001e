"""Login, logout and two-factor authentication (names `login`, `logout`, `two_factor`,
`two_factor_setup`, `two_factor_qr`, `recovery_codes`)."""

from django.urls import path

from casereports.accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/qr.svg", views.two_factor_qr, name="two_factor_qr"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
]
