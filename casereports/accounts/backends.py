"""The authentication backend that applies django-axes' login lockout."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a login while its username and IP are locked out (then ModelBackend checks the
    password). A password check without a request is no login through a page: the e-signature
    of a signed-in user locking a case, or the test client's `login()`; there is no request to
    count it against, so this backend stands aside (axes itself would raise)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
