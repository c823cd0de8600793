"""Template filters: money in the configured currency, signed numbers, percentages, query strings."""

from decimal import Decimal, InvalidOperation

from django import template

from retailops.money import format_money

register = template.Library()


@register.filter
def money(value):
    return format_money(value)


@register.filter
def qty(value):
    """12 for whole quantities, 1.25 for weights; blank for None."""
    if value is None or value == "":
        return ""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d.normalize():,f}"


@register.filter
def rate(value):
    """A forecast in units (per day or a week's sum), as precise as its size needs: 1,240 · 32.5 · 3.2 ·
    0.35 — so a slow mover's 0.05 a day does not read as "0". A dash for None or NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if v != v or v in (float("inf"), float("-inf")):
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 1 else f"{v:.2f}"


@register.filter
def pct(value, digits=1):
    """0.125 → "12.5%"; a dash for a share that cannot be computed (None, NaN, infinity, not a number)."""
    if value is None or value == "":
        return "–"
    try:
        d = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return "–"
    if not d.is_finite():
        return "–"
    return f"{d * 100:.{int(digits)}f}%"


@register.filter
def unsigned_pct(value, digits=1):
    """The size of a change, for text that says its direction in words: -0.034 → "3.4%"."""
    try:
        return pct(abs(value), digits)
    except TypeError:
        return pct(value, digits)


@register.simple_tag(takes_context=True)
def query_with(context, **kwargs):
    """The current query string with some parameters replaced (for filter and page links)."""
    params = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
