"""Finding the case a URL names, for the case pages."""

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from casereports.audit import context_for
from casereports.models import Case
from casereports.services import cases as services

SECRET_NAME_MAX = Case._meta.get_field("secret_name").max_length


def visible_case(request: HttpRequest, secret_name: str, what: str) -> Case:
    """The case if the user may see it; otherwise the attempt is recorded and it is a 404
    (whether the case exists is not told)."""
    case = (
        Case.objects.visible_to(request.user)
        .select_related("site", "dictionary_version")
        .filter(secret_name=secret_name)
        .first()
    )
    if case is None:
        # Linked to the case when it exists, so its site sees the attempt in its trail.
        target = Case.objects.select_related("site").filter(secret_name=secret_name).first()
        services.record_denial(
            context_for(request), f"{what} {secret_name[:SECRET_NAME_MAX]}", case=target
        )
        raise Http404(_("No case of that name is open to you."))
    return case
