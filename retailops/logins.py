"""Login lockout with django-axes: the client address behind a configured number of proxies, the backend, and
the "too many failed sign-ins" page (both login forms: /accounts/login/ and /admin/login/)."""

import ipaddress
import math

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address a lockout is counted against.

    With no trusted proxy (RETAILOPS_TRUSTED_PROXY_COUNT=0, the default) it is the connection's address, and
    X-Forwarded-For is ignored: anyone can send that header, so trusting it would let an attacker pick a fresh
    address for every guess. Behind N proxies it is the N-th address from the right of X-Forwarded-For — the one
    the outermost proxy appended; what the client wrote further left is not read. A header with fewer hops than
    configured did not come through the proxies, so the connection's address counts (stricter, never looser).
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR"))
    count = settings.RETAILOPS_TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return remote
    return _valid_ip(hops[-count]) or remote


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before the password backends: a locked-out username + address is refused.

    Every login form passes the request. A call without one (the test client's `login()`, `authenticate()` in a
    shell) has no client address to count against, so it is passed on to the password backends unchecked instead
    of raising (axes' default).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The page a locked-out sign-in gets on either login form (AXES_LOCKOUT_CALLABLE), HTTP 429."""
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"minutes": minutes, "login_url": request.path}
    return render(request, "registration/locked_out.html", context, status=429)
