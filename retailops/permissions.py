"""Permission mixins for pages and the API: every endpoint declares what it needs.

Anonymous → login redirect (pages) or 401 (API); missing permission → 403; a row of a store the
user may not see → 404 (querysets are restricted by user, see inventory.selectors.stores_visible).
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from rest_framework.permissions import BasePermission, DjangoModelPermissions


class RolePermissionMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """A page that needs `permission_required` (a string or tuple of permission names)."""

    permission_required: str | tuple[str, ...] = ()

    def has_permission(self) -> bool:
        perms = self.get_permission_required()
        return self.request.user.has_perms(perms)

    def get_permission_required(self):
        perms = self.permission_required
        return (perms,) if isinstance(perms, str) else tuple(perms)


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
                return bool(request.user and request.user.is_authenticated and request.user.has_perms(perms))

        _HasPerms.__name__ = "HasPerms(" + ", ".join(perms) + ")"
        return _HasPerms
