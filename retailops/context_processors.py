"""The navigation: each app lists its pages (label, URL name, permission) on its AppConfig.nav."""

from django.apps import apps
from django.conf import settings
from django.urls import NoReverseMatch, reverse


def navigation(request):
    user = getattr(request, "user", None)
    items = []
    if user is not None and user.is_authenticated:
        for config in apps.get_app_configs():
            for label, url_name, perm in getattr(config, "nav", ()):
                if perm and not user.has_perm(perm):
                    continue
                try:
                    url = reverse(url_name)
                except NoReverseMatch:
                    continue
                items.append({"label": label, "url": url, "active": False})
        # One entry is current: the longest URL the path starts with (/forecasting/calendar/ is Calendar's, not
        # also Forecasts').
        matching = [item for item in items if request.path.startswith(item["url"])]
        if matching:
            max(matching, key=lambda item: len(item["url"]))["active"] = True
        if user.is_staff:
            items.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    return {"nav_items": items, "currency_symbol": settings.RETAILOPS["CURRENCY_SYMBOL"]}
