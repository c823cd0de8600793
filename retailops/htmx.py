"""The one HTMX partial-rendering switch: a page includes its partial, and the same view returns only that
partial when HTMX asks (and the request is not boosted). Responses say `Vary: HX-Request`, so a cache never
serves the partial for the page or the page for the partial."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers


def is_htmx_partial(request: HttpRequest) -> bool:
    """An HTMX request that wants a fragment: not a boosted link or form, which wants the whole page."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted


def vary_on_htmx(response: HttpResponseBase) -> HttpResponseBase:
    """Mark a response whose body depends on the HX-Request header."""
    patch_vary_headers(response, ("HX-Request",))
    return response


class HtmxPartialMixin:
    """For a TemplateResponseMixin view: `partial_template_name` alone for an HTMX (non-boosted) request,
    the page (`template_name`) otherwise; every response varies on HX-Request."""

    partial_template_name: str = ""

    def get_template_names(self) -> list[str]:
        if self.partial_template_name and is_htmx_partial(self.request):  # type: ignore[attr-defined]
            return [self.partial_template_name]
        return super().get_template_names()  # type: ignore[misc]

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        return vary_on_htmx(response)
