"""Project-level pages: the role-aware home page, login with a rate limit, and a health check.

The home page pulls its panels from the apps' partial URLs with HTMX (DESIGN §2: retailops wires,
it does not import the apps' code).
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.generic import TemplateView


class HomeView(LoginRequiredMixin, TemplateView):
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


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


class RateLimitedLoginView(auth_views.LoginView):
    """Django's login, refusing further attempts from one address for a while after too many failures."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def _key(self) -> str:
        return f"login-fail:{_client_ip(self.request)}"

    def post(self, request, *args, **kwargs):
        failures = cache.get(self._key(), 0)
        if failures >= settings.LOGIN_RATE_LIMIT_ATTEMPTS:
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                f"Too many failed sign-ins from this address. Try again in "
                f"{settings.LOGIN_RATE_LIMIT_WINDOW // 60} minutes.",
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        key = self._key()
        cache.add(key, 0, timeout=settings.LOGIN_RATE_LIMIT_WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_RATE_LIMIT_WINDOW)
        return super().form_invalid(form)


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
