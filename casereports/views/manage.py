"""Placeholder: the site management views are being written."""

from django.http import Http404


def _not_yet(request, *args, **kwargs):
    raise Http404


members = audit_csv = _not_yet
