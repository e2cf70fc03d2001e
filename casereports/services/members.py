"""Site managers manage their own site's members: every change checked, written and on record.

Only site-level roles (clinician, site manager) can be granted here; central roles are given in
the Django admin. Each function checks the actor's rights through `casereports.access`, writes,
and appends its audit event (`member.added`, `member.role_changed`, `member.removed`) in one
transaction. A site always keeps at least one site manager.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from casereports import access
from casereports.audit import AuditContext, record_event
from casereports.models import Membership, Site
from casereports.roles import ROLES
from casereports.services.cases import CaseServiceError, NotAllowed, record_denial

CLINICIAN, SITE_MANAGER = "clinician", "site_manager"
GRANTABLE_ROLES = (CLINICIAN, SITE_MANAGER)
TEMPORARY_PASSWORD_BYTES = 15  # 20 URL-safe characters


class MemberError(CaseServiceError):
    """A member change refused for a reason the manager can fix (not a permission problem)."""

    code = "invalid"


@dataclass(frozen=True)
class NewMember:
    membership: Membership
    temporary_password: str  # shown once to the manager, never stored or logged


def grantable_role_choices() -> list[tuple[str, str]]:
    return [(code, ROLES[code].label) for code in GRANTABLE_ROLES]


def site_members(site: Site) -> QuerySet[Membership]:
    """Every membership at `site` (central roles too, which are shown but not managed here)."""
    return (
        Membership.objects.filter(site=site)
        .select_related("user")
        .order_by("user__username", "role")
    )


def _require_manager(context: AuditContext, site: Site, what: str) -> None:
    if not access.has_permission(context.user, access.MANAGE_MEMBERS, site):
        record_denial(context, what, site=site)
        raise NotAllowed("Only a site manager of this site can manage its members.")


def _require_grantable(context: AuditContext, site: Site, role: str) -> None:
    if role not in ROLES:
        raise MemberError(f"Role: '{role}' is not a role.")
    if role not in GRANTABLE_ROLES:
        record_denial(context, f"grant role {role}", site=site)
        raise NotAllowed(
            f"Role: {ROLES[role].label} cannot be granted here; only clinician or site manager. "
            "Central roles are given by an administrator."
        )


def _require_managed_here(
    context: AuditContext, membership: Membership, what: str, *, record: bool = True
) -> None:
    """Central roles are not the site manager's to change. Called before the write's transaction
    (so the recorded denial stays), and again inside it on the locked row without recording."""
    if membership.role not in GRANTABLE_ROLES:
        if record:
            record_denial(context, f"{what} ({membership.role})", site=membership.site)
        label = ROLES[membership.role].label if membership.role in ROLES else membership.role
        raise NotAllowed(f"{label} memberships are managed by an administrator.")


def add_member(context: AuditContext, site: Site, username: str, role: str) -> Membership:
    """Give an existing user a site-level role at `site`."""
    _require_manager(context, site, "add member")
    _require_grantable(context, site, role)
    username = username.strip()
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise MemberError(f"Username: there is no user called '{username}'.")
    with transaction.atomic():
        if Membership.objects.filter(user=user, site=site).exists():
            raise MemberError(
                f"Username: {username} is already a member of {site.code}; change their role "
                "instead."
            )
        membership = Membership.objects.create(user=user, site=site, role=role)
        record_event(
            context,
            "member.added",
            site=site,
            details={"username": user.get_username(), "role": role, "new_user": False},
        )
    _forget(context, user)
    return membership


def create_member(
    context: AuditContext, site: Site, username: str, role: str, *, email: str = ""
) -> NewMember:
    """Create a user with a generated temporary password and a site-level role at `site`."""
    _require_manager(context, site, "create member")
    _require_grantable(context, site, role)
    user_model = get_user_model()
    username = username.strip()
    try:
        user_model.username_validator(username)
    except ValidationError as invalid:
        raise MemberError(f"Username: {' '.join(invalid.messages)}") from None
    password = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    with transaction.atomic():
        if user_model.objects.filter(username__iexact=username).exists():
            raise MemberError(
                f"Username: '{username}' is taken; add the existing user or choose another name."
            )
        user = user_model.objects.create_user(username=username, email=email, password=password)
        membership = Membership.objects.create(user=user, site=site, role=role)
        record_event(
            context,
            "member.added",
            site=site,
            details={"username": username, "role": role, "new_user": True},
        )
    return NewMember(membership, password)


def change_role(context: AuditContext, membership: Membership, role: str) -> Membership:
    """Change a clinician to a site manager or back."""
    site = membership.site
    _require_manager(context, site, "change member role")
    _require_grantable(context, site, role)
    _require_managed_here(context, membership, "change member role")
    with transaction.atomic():
        membership = _reload(membership)
        _require_managed_here(context, membership, "change member role", record=False)
        if membership.role == role:
            return membership
        if Membership.objects.filter(user=membership.user, site=site, role=role).exists():
            raise MemberError(f"{membership.user.get_username()} already has that role here.")
        if membership.role == SITE_MANAGER:
            _keep_a_manager(membership)
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        record_event(
            context,
            "member.role_changed",
            site=site,
            details={
                "username": membership.user.get_username(),
                "role": role,
                "previous_role": previous,
            },
        )
    _forget(context, membership.user)
    return membership


def remove_member(context: AuditContext, membership: Membership) -> None:
    """Remove one membership; the user keeps their account and any other membership."""
    site = membership.site
    _require_manager(context, site, "remove member")
    _require_managed_here(context, membership, "remove member")
    with transaction.atomic():
        membership = _reload(membership)
        _require_managed_here(context, membership, "remove member", record=False)
        if membership.role == SITE_MANAGER:
            _keep_a_manager(membership)
        user = membership.user
        membership.delete()
        record_event(
            context,
            "member.removed",
            site=site,
            details={"username": user.get_username(), "role": membership.role},
        )
    _forget(context, user)


def _reload(membership: Membership) -> Membership:
    """The membership as it is now, locked until the transaction ends."""
    current = (
        Membership.objects.select_for_update()
        .select_related("user", "site")
        .filter(pk=membership.pk)
        .first()
    )
    if current is None:
        raise MemberError("That membership was removed in the meantime; reload the page.")
    return current


def _keep_a_manager(membership: Membership) -> None:
    managers = list(
        Membership.objects.select_for_update()
        .filter(site=membership.site, role=SITE_MANAGER)
        .values_list("pk", flat=True)
    )
    if managers == [membership.pk]:
        raise MemberError(
            f"{membership.user.get_username()} is the only site manager of "
            f"{membership.site.code}; make someone else site manager first."
        )


def _forget(context: AuditContext, user) -> None:
    access.forget(user)
    if context.user is not None and context.user.pk == user.pk:
        access.forget(context.user)
