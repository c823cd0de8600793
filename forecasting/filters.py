"""Query string of the Reorder page (the suggestion list), read by a FilterSet; the selector filters."""

from __future__ import annotations

import django_filters

from retailops.filtersets import IdFilter, QueryParamsFilterSet

from .models import ReorderSuggestion

# "open" lists the open and the accepted lines (forecasting.selectors.suggestion_list); an empty status lists all.
SUGGESTION_STATUSES = [("open", "open & accepted"), *ReorderSuggestion.Status.choices]


class SuggestionFilter(QueryParamsFilterSet):
    """?store, status of the Reorder page: open & accepted lines of every visible store unless told otherwise."""

    store = IdFilter(label="Store")
    status = django_filters.ChoiceFilter(choices=SUGGESTION_STATUSES, label="Status", empty_label=None)

    absent = {"status": "open"}

    class Meta:
        model = ReorderSuggestion
        fields: list[str] = []

    @property
    def params(self) -> dict:
        """The keyword arguments of suggestion_list (besides the user); a status it does not know lists the open
        lines, as when none is given."""
        return {"status": self.cleaned("status", "open"), "store_id": self.cleaned("store")}
