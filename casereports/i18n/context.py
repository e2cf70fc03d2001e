"""Template context for every page: the language switcher and the page's direction."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils import translation

from casereports.i18n.middleware import QUERY_PARAMETER


def languages(request: HttpRequest) -> dict[str, object]:
    current = translation.get_language() or settings.LANGUAGE_CODE
    return {
        "current_language": current,
        "language_bidi": translation.get_language_bidi(),
        "language_choices": [
            {
                "code": code,
                "name": name,
                "current": code == current,
                "url": _with_language(request, code),
            }
            for code, name in settings.LANGUAGES
        ],
    }


def _with_language(request: HttpRequest, code: str) -> str:
    query: QueryDict = request.GET.copy()
    query[QUERY_PARAMETER] = code
    return f"{request.path}?{query.urlencode()}"
