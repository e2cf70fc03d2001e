"""Placeholder: the case list, case page, history, lock and unlock views are being written."""

from django.http import Http404


def _not_yet(request, *args, **kwargs):
    raise Http404


case_list = case_detail = case_history = lock = unlock = _not_yet
