"""Project-level pages: the role-aware home page, login (locked out by django-axes), the health check (/healthz/)
and the Prometheus metrics (/metrics).

The home page pulls its panels from the apps' partial URLs with HTMX (DESIGN §2: retailops wires,
it does not import the apps' code).
"""

import hmac
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import DatabaseError, connection
from django.http import Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from . import heartbeat
from .logins import client_ip
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


# --- monitoring: /healthz/ and /metrics ---------------------------------------------------------------------------


def _database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _seconds_ago(moment) -> int | None:
    return None if moment is None else max(0, int((timezone.now() - moment).total_seconds()))


@require_GET
def healthz(request, newest_sale_age: Callable[[], float | None] | None = None, stale_after: float = 0):
    """The load balancer's and the monitor's check, open to anyone: the status of the database, the broker, a worker
    heartbeat, beat's last tick, and the age of the newest sale. 503 when the database, the broker, the workers or
    beat are down; an old newest sale is only "stale" (a shop may be closed). No hostnames, counts or errors' text.
    `newest_sale_age` (seconds, None: no sale) and `stale_after` are given by retailops/urls.py (the figure is
    the sales app's)."""
    database = _database_up()
    broker = heartbeat.broker_probe().up
    worker_seen = beat_tick = sale_age = None
    if database:
        try:
            worker_seen, beat_tick = heartbeat.worker_last_seen(), heartbeat.beat_last_tick()
            sale_age = newest_sale_age() if newest_sale_age else None
        except DatabaseError:
            database = False
    worker = heartbeat.worker_is_up(worker_seen)
    beat = heartbeat.beat_is_up(beat_tick)
    if not database:
        sale = "unknown"
    elif sale_age is None:
        sale = "none"
    else:
        sale = "stale" if stale_after and sale_age > stale_after else "ok"
    up = database and broker and worker and beat
    body = {
        "status": "ok" if up else "down",
        "database": "ok" if database else "down",
        "broker": "ok" if broker else "down",
        "worker": "ok" if worker else "down",
        "worker_heartbeat_seconds_ago": _seconds_ago(worker_seen),
        "beat": "ok" if beat else "down",
        "beat_tick_seconds_ago": _seconds_ago(beat_tick),
        "newest_sale": sale,
        "newest_sale_age_seconds": None if sale_age is None else int(sale_age),
    }
    response = JsonResponse(body, status=200 if up else 503)
    response["Cache-Control"] = "no-store"
    return response


def metrics_allowed(request) -> bool | None:
    """True: the bearer token matches RETAILOPS_METRICS_TOKEN, or the caller's address (retailops.logins.client_ip:
    behind trusted proxies, the client's) is on RETAILOPS_METRICS_ALLOW. False: a wrong token (403). None: neither
    (404: the URL is not advertised)."""
    token = settings.RETAILOPS_METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        given = header.removeprefix("Bearer ").strip()
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())
    return True if client_ip(request) in settings.RETAILOPS_METRICS_ALLOW else None


@require_GET
def metrics(request, collector_class: type | None = None):
    """Prometheus text format (prometheus-client) of the health page's figures, gathered at scrape time by the
    collector retailops/urls.py names."""
    allowed = metrics_allowed(request)
    if allowed is None:
        raise Http404
    if not allowed:
        return HttpResponseForbidden("Wrong metrics token.", content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    if collector_class is not None:
        registry.register(collector_class())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
