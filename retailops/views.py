"""Project-level pages: the role-aware home page, login (locked out by django-axes), and a health check.

The home page pulls its panels from the apps' partial URLs with HTMX (DESIGN §2: retailops wires,
it does not import the apps' code).
"""

from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.views.generic import TemplateView

from .permissions import LOGGED_IN, RolePermissionMixin


class HomeView(RolePermissionMixin, TemplateView):
    permission_required = LOGGED_IN  # every role's start page; its panels check their own permissions
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["role_names"] = sorted(g.name for g in user.groups.all())
        context["can"] = {
            "costs": user.has_perm("inventory.view_cost"),
            "profit": user.has_perm("sales.view_profit"),
            "count": user.has_perm("inventory.add_stockcount"),
            "reconcile": user.has_perm("inventory.reconcile_stockcount"),
            "export": user.has_perm("sales.export_reports"),
            "customers": user.has_perm("customers.view_customer"),
            "import": user.has_perm("sales.import_sales"),
        }
        return context


class LoginView(auth_views.LoginView):
    """Django's login. Too many failures for one username from one address lock it (django-axes, settings
    "login rate limit"; the page is retailops.logins.lockout_response)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
