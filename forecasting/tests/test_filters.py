"""The Reorder page's query string: no status means open & accepted, an empty one means every status."""

import pytest
from django.http import QueryDict

from forecasting.filters import SuggestionFilter


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"status": "open", "store_id": None}),
        ("status=", {"status": "", "store_id": None}),
        ("status=dismissed&store=2", {"status": "dismissed", "store_id": 2}),
        ("status=bogus&store=two", {"status": "open", "store_id": None}),
    ],
)
def test_suggestion_filter_params(query, expected):
    assert SuggestionFilter(QueryDict(query)).params == expected
