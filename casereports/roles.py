"""Roles are named bundles of permissions, declared here in code (not in the database).

A membership gives a user one role at one site. The access module decides what a role may do.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    code: str
    label: str | Promise  # translated where it is shown
    permissions: frozenset[str]
    staff: bool = True


VIEW_CASES = "view_cases"
EDIT_CASES = "edit_cases"
LOCK_CASES = "lock_cases"
MANAGE_MEMBERS = "manage_members"
VIEW_ALL_SITES = "view_all_sites"
IMPORT_DATA = "import_data"
EXPORT_DATA = "export_data"
VIEW_AGGREGATES = "view_aggregates"
ADMINISTER = "administer"
# Accept, mark duplicate or mark spam the patients' own reports (a site manager for the site's
# link, central data managers and administrators for every site).
TRIAGE_REPORTS = "triage_reports"
# Open and close queries on cases' values (the data resolution workflow): central data managers
# for every site, site managers for theirs; answering is for whoever edits the case.
MANAGE_QUERIES = "manage_queries"
# A registry's federated count tables (never rows): upload them for the member's site.
UPLOAD_COUNTS = "upload_counts"

ROLES: dict[str, Role] = {
    role.code: role
    for role in (
        Role("clinician", _("Clinician"), frozenset({VIEW_CASES, EDIT_CASES})),
        Role(
            "site_manager",
            _("Site manager"),
            frozenset(
                {VIEW_CASES, EDIT_CASES, LOCK_CASES, MANAGE_MEMBERS, TRIAGE_REPORTS, MANAGE_QUERIES}
            ),
        ),
        Role(
            "central_data_manager",
            _("Central data manager"),
            frozenset({VIEW_CASES, VIEW_ALL_SITES, IMPORT_DATA, TRIAGE_REPORTS, MANAGE_QUERIES}),
        ),
        Role("exporter", _("Exporter"), frozenset({EXPORT_DATA, VIEW_AGGREGATES})),
        Role("analyst", _("Analyst"), frozenset({VIEW_AGGREGATES})),
        Role("registry_uploader", _("Registry uploader"), frozenset({UPLOAD_COUNTS})),
        # A registry's rows: uploads its de-identified export each week and reads its records
        # (changes come by re-uploading, never by editing in the forms).
        Role(
            "registry_data_manager",
            _("Registry data manager"),
            frozenset({IMPORT_DATA, VIEW_CASES}),
        ),
        Role(
            "administrator",
            _("Administrator"),
            frozenset(
                {
                    VIEW_CASES,
                    VIEW_ALL_SITES,
                    IMPORT_DATA,
                    EXPORT_DATA,
                    VIEW_AGGREGATES,
                    ADMINISTER,
                    TRIAGE_REPORTS,
                    MANAGE_QUERIES,
                }
            ),
        ),
    )
}

ROLE_CHOICES = [(role.code, role.label) for role in ROLES.values()]
