"""Template context every page needs: what the navigation may offer the user."""

from casereports import access


def navigation(request) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "can_manage_members": False,
            "can_export": False,
            "can_see_feeds": False,
            "can_upload_counts": False,
            "can_triage": False,
            "can_import_rows": False,
            "can_see_quality": False,
        }
    return {
        "can_manage_members": access.has_permission(user, access.MANAGE_MEMBERS),
        "can_export": access.has_permission(user, access.EXPORT_DATA),
        "can_see_feeds": access.can_download_publication(user),
        "can_upload_counts": access.has_permission(user, access.UPLOAD_COUNTS),
        "can_triage": access.has_permission(user, access.TRIAGE_REPORTS),
        "can_import_rows": access.has_permission(user, access.IMPORT_DATA),
        "can_see_quality": access.has_permission(user, access.VIEW_CASES),
    }
