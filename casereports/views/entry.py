"""Placeholder: the entry views are being written."""

from django.http import Http404


def _not_yet(request, *args, **kwargs):
    raise Http404


new_case = edit_form = submit = _not_yet
