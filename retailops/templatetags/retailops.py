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
