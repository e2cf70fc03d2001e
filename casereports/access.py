"""Who may do what, decided in one place.

A user's rights come only from their memberships (user, site, role) and the permissions each
role bundles (`casereports.roles`). Views, the API and the admin ask this module; none of them
filters cases by site themselves. Superusers get no case access from being superusers: they
need a membership like everyone else, so the Django admin is no way around site scoping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from casereports.roles import (
    ADMINISTER,
    EDIT_CASES,
    EXPORT_DATA,
    IMPORT_DATA,
    LOCK_CASES,
    MANAGE_MEMBERS,
    MANAGE_QUERIES,
    ROLES,
    TRIAGE_REPORTS,
    UPLOAD_COUNTS,
    VIEW_AGGREGATES,
    VIEW_ALL_SITES,
    VIEW_CASES,
)

if TYPE_CHECKING:
    from casereports.models import ApiToken, Case, Site

_CACHE_ATTRIBUTE = "_gdsi_memberships"


def memberships(user) -> list[tuple[int, str]]:
    """(site id, role code) for each of the user's memberships, read once per user object."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = list(user.memberships.order_by().values_list("site_id", "role"))
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def forget(user) -> None:
    """Drop the cached memberships (after they change)."""
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


def permissions_at(user, site_id: int) -> frozenset[str]:
    granted: set[str] = set()
    for member_site, role in memberships(user):
        if member_site == site_id and role in ROLES:
            granted |= ROLES[role].permissions
    return frozenset(granted)


def all_permissions(user) -> frozenset[str]:
    granted: set[str] = set()
    for _, role in memberships(user):
        if role in ROLES:
            granted |= ROLES[role].permissions
    return frozenset(granted)


def has_permission(user, permission: str, site: Site | int | None = None) -> bool:
    """`permission` at `site`, or at any of the user's sites when `site` is None."""
    if site is None:
        return permission in all_permissions(user)
    site_id = site if isinstance(site, int) else site.pk
    return permission in permissions_at(user, site_id)


def site_ids_with(user, permission: str) -> list[int]:
    return sorted(
        {
            site
            for site, role in memberships(user)
            if role in ROLES and permission in ROLES[role].permissions
        }
    )


def sees_all_sites(user) -> bool:
    return VIEW_ALL_SITES in all_permissions(user)


def visible_cases(user, cases: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """Cases the user may read: their sites' cases, or every site's for central roles."""
    from casereports.models import Case

    cases = Case.objects.all() if cases is None else cases
    if sees_all_sites(user):
        return cases
    return cases.filter(site_id__in=site_ids_with(user, VIEW_CASES))


def editable_cases(user, cases: QuerySet[Case] | None = None) -> QuerySet[Case]:
    from casereports.models import Case

    cases = Case.objects.all() if cases is None else cases
    return cases.filter(site_id__in=site_ids_with(user, EDIT_CASES))


def can_view_case(user, case: Case) -> bool:
    return sees_all_sites(user) or has_permission(user, VIEW_CASES, case.site_id)


def can_edit_case(user, case: Case) -> bool:
    return has_permission(user, EDIT_CASES, case.site_id)


def can_lock_case(user, case: Case) -> bool:
    return has_permission(user, LOCK_CASES, case.site_id)


def entry_sites(user) -> QuerySet[Site]:
    """Sites where the user may create cases."""
    from casereports.models import Site

    return Site.objects.filter(pk__in=site_ids_with(user, EDIT_CASES))


def managed_sites(user) -> QuerySet[Site]:
    """Sites whose members (and audit trail) the user manages."""
    from casereports.models import Site

    return Site.objects.filter(pk__in=site_ids_with(user, MANAGE_MEMBERS))


def export_site_ids(user) -> list[int]:
    """Sites whose cases the user may export: where they hold the export right, or every site
    when they also see all sites (an administrator)."""
    from casereports.models import Site

    if not has_permission(user, EXPORT_DATA):
        return []
    if sees_all_sites(user):
        return list(Site.objects.order_by("pk").values_list("pk", flat=True))
    return site_ids_with(user, EXPORT_DATA)


def exportable_cases(user, cases: QuerySet[Case] | None = None) -> QuerySet[Case]:
    from casereports.models import Case

    cases = Case.objects.all() if cases is None else cases
    return cases.filter(site_id__in=export_site_ids(user))


def token_allows_site(token: ApiToken | None, site: Site | int) -> bool:
    """A token bound to a site acts for that site only; an unbound token (or a browser session,
    `token` None) is limited by the user's memberships alone."""
    site_id = site if isinstance(site, int) else site.pk
    bound = getattr(token, "site_id", None)
    return bound is None or bound == site_id


def can_upload_counts(user, site: Site | int, token: ApiToken | None = None) -> bool:
    """A registry uploader of `site` may upload that site's federated count tables, and only
    through a token bound to that site (or unbound) when the request came with one."""
    return has_permission(user, UPLOAD_COUNTS, site) and token_allows_site(token, site)


def upload_sites(user, token: ApiToken | None = None) -> QuerySet[Site]:
    """Sites the user may upload count tables for (one, for a site-bound token)."""
    from casereports.models import Site

    site_ids = [
        site_id
        for site_id in site_ids_with(user, UPLOAD_COUNTS)
        if token_allows_site(token, site_id)
    ]
    return Site.objects.filter(pk__in=site_ids).order_by("code")


def can_import_rows(user, site: Site | int, token: ApiToken | None = None) -> bool:
    """Import core-data-set rows into `site`: a registry data manager of the site, or a central
    role that imports for every site; through a token, only one bound to that site (or
    unbound)."""
    site_id = site if isinstance(site, int) else site.pk
    if not token_allows_site(token, site_id):
        return False
    if has_permission(user, IMPORT_DATA, site_id):
        return True
    return sees_all_sites(user) and has_permission(user, IMPORT_DATA)


def import_sites(user, token: ApiToken | None = None) -> QuerySet[Site]:
    """Sites the user may import rows into (one, for a site-bound token)."""
    from casereports.models import Site

    if sees_all_sites(user) and has_permission(user, IMPORT_DATA):
        sites = Site.objects.all()
    else:
        sites = Site.objects.filter(pk__in=site_ids_with(user, IMPORT_DATA))
    bound = getattr(token, "site_id", None)
    if bound is not None:
        sites = sites.filter(pk=bound)
    return sites.order_by("code")


def visible_imports(user, imports=None, token: ApiToken | None = None):
    """The row imports the user may see: those of the sites they import into."""
    from casereports.imports.models import RowImport

    imports = RowImport.objects.all() if imports is None else imports
    return imports.filter(site__in=import_sites(user, token))


def can_request_feed(user) -> bool:
    """The pooled (exact) federated feed: exporters at any site, and administrators."""
    return has_permission(user, EXPORT_DATA) or has_permission(user, ADMINISTER)


def can_download_publication(user) -> bool:
    """The small-cell-suppressed feed: whoever may request feeds, and analysts (aggregates)."""
    return can_request_feed(user) or has_permission(user, VIEW_AGGREGATES)


def can_triage(user, site: Site | int) -> bool:
    """Triage a patient's own report: at a site where the user triages, or anywhere for a
    central role that triages and sees every site."""
    site_id = site if isinstance(site, int) else site.pk
    if has_permission(user, TRIAGE_REPORTS, site_id):
        return True
    return sees_all_sites(user) and has_permission(user, TRIAGE_REPORTS)


def triage_cases(user, cases: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """The patients' own reports the user triages."""
    from casereports.models import Case

    cases = Case.objects.all() if cases is None else cases
    cases = cases.filter(patient_report__isnull=False)
    if not has_permission(user, TRIAGE_REPORTS):
        return cases.none()
    if sees_all_sites(user):
        return cases
    return cases.filter(site_id__in=site_ids_with(user, TRIAGE_REPORTS))


def can_manage_queries(user, case: Case) -> bool:
    """Open, close and reopen queries on the case: a site manager of its site, or a central
    role that manages queries and sees every site."""
    if has_permission(user, MANAGE_QUERIES, case.site_id):
        return True
    return sees_all_sites(user) and has_permission(user, MANAGE_QUERIES)


def can_answer_query(user, case: Case) -> bool:
    """Answer a query: whoever edits the case (its site's clinicians and managers), a registry
    data manager for the site's imported records (usually by uploading again), and those who
    manage queries."""
    if can_edit_case(user, case) or can_manage_queries(user, case):
        return True
    return bool(case.registry_record) and has_permission(user, IMPORT_DATA, case.site_id)


def visible_queries(user, queries=None):
    """The queries of the cases the user may read."""
    from casereports.quality.models import Query

    queries = Query.objects.all() if queries is None else queries
    return queries.filter(case__in=visible_cases(user))


def queries_waiting_for(user):
    """The queries waiting for the user: answered ones to close, and the clinicians'
    justifications to review, at the sites where they manage queries; open ones on the cases
    they edit (or, for a registry data manager, on their site's imported records)."""
    from django.db.models import Q

    from casereports.quality.models import QueryStatus

    queries = visible_queries(user)
    managed = (
        Q()
        if sees_all_sites(user) and has_permission(user, MANAGE_QUERIES)
        else Q(case__site_id__in=site_ids_with(user, MANAGE_QUERIES))
    )
    to_review = Q(status=QueryStatus.ANSWERED) | Q(status=QueryStatus.OPEN, rule_id__gt="")
    to_answer = Q(status=QueryStatus.OPEN) & (
        Q(case__site_id__in=site_ids_with(user, EDIT_CASES))
        | (Q(case__site_id__in=site_ids_with(user, IMPORT_DATA)) & ~Q(case__registry_record=""))
    )
    if has_permission(user, MANAGE_QUERIES):
        return queries.filter((managed & to_review) | to_answer)
    return queries.filter(to_answer)


def role_at(user, site_id: int | None) -> str:
    """The user's role codes at a site (for the audit trail), or at all sites if none given."""
    roles = sorted(
        {role for member_site, role in memberships(user) if site_id in (None, member_site)}
    )
    return ",".join(roles)[:32]


def is_staff_role(user) -> bool:
    """True when any of the user's roles is a staff role (two-factor authentication required)."""
    return any(ROLES[role].staff for _, role in memberships(user) if role in ROLES)
