"""Template filters of the reorder pages."""

from django import template

from forecasting import policy

register = template.Library()


@register.filter
def explanation_for(lines, costs) -> list[str]:
    """`{% for line in s.explanation|explanation_for:show_costs %}`: the cost step only for roles that see costs."""
    return policy.explanation_for(lines or [], costs=bool(costs))
