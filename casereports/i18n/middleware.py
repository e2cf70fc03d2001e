"""Choose each request's language: `?lang=`, then the one kept in the session, then the
browser's. No language cookie is set (the session is the only cookie)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

SESSION_KEY = "gdsi_language"
QUERY_PARAMETER = "lang"


def supported(code: str) -> str | None:
    """The supported language a code names (`pt-BR`, `pt_br` and `pt-br` alike), or None."""
    code = code.strip().lower().replace("_", "-")[:12]
    codes = {language for language, _ in settings.LANGUAGES}
    return code if code in codes else None


class LanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = self._choose(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response

    def _choose(self, request: HttpRequest) -> str:
        asked = supported(request.GET.get(QUERY_PARAMETER, ""))
        session = getattr(request, "session", None)
        if asked:
            if session is not None and session.get(SESSION_KEY) != asked:
                session[SESSION_KEY] = asked
            return asked
        kept = supported(session.get(SESSION_KEY, "")) if session is not None else None
        if kept:
            return kept
        return translation.get_language_from_request(request, check_path=False)
