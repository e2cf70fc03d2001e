"""Template context every page needs: what the navigation may offer the user."""

from casereports import access


def navigation(request) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_manage_members": False, "can_export": False}
    return {
        "can_manage_members": access.has_permission(user, access.MANAGE_MEMBERS),
        "can_export": access.has_permission(user, access.EXPORT_DATA),
    }
