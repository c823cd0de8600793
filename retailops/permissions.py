"""Permission mixins for pages and the API: every endpoint declares what it needs.

Anonymous → login redirect (pages) or 401 (API); missing permission → 403; a row of a store the
user may not see → 404 (querysets are restricted by user, see inventory.selectors.stores_visible).

Deny by default: a page that declares no permission is refused (403) to everyone, superusers included. A page
meant for any signed-in user says so with `permission_required = LOGGED_IN`
(retailops/tests/test_permissions.py walks the URLs and allows that only on a short, explained list).
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from rest_framework.permissions import BasePermission, DjangoModelPermissions


class _LoggedIn:
    """The `permission_required` of a page that is for any signed-in user, on purpose (see LOGGED_IN)."""

    def __repr__(self) -> str:
        return "LOGGED_IN"


LOGGED_IN = _LoggedIn()


class RolePermissionMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """A page that needs `permission_required`: a permission name, a tuple of them (all needed), or LOGGED_IN.

    Nothing declared (an empty tuple, the default) → 403 for everyone: a new page is closed until it says who
    may open it.
    """

    permission_required: str | tuple[str, ...] | _LoggedIn = ()

    def has_permission(self) -> bool:
        user = self.request.user
        if not user.is_authenticated:
            return False
        if self.permission_required is LOGGED_IN:
            return True
        perms = self.get_permission_required()
        return bool(perms) and user.has_perms(perms)

    def get_permission_required(self) -> tuple[str, ...]:
        perms = self.permission_required
        if perms is LOGGED_IN:
            return ()
        return (perms,) if isinstance(perms, str) else tuple(perms)  # type: ignore[arg-type]


class StrictModelPermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also requires view_<model> for reads (DRF asks for none)."""

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }


class HasPerms:
    """DRF permission for command APIs: `permission_classes = [HasPerms.of("sales.add_sale")]`."""

    @staticmethod
    def of(*perms: str):
        class _HasPerms(BasePermission):
            message = "You do not have permission to do this."

            def has_permission(self, request, view):
                # No permission named: refused, like RolePermissionMixin (has_perms(()) would say yes).
                user = request.user
                return bool(perms and user and user.is_authenticated and user.has_perms(perms))

        _HasPerms.__name__ = "HasPerms(" + ", ".join(perms) + ")"
        return _HasPerms
