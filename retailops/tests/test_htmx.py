"""The one HTMX switch (retailops.htmx) and the one chart helper (retailops.charts): every page that answers
HTMX with a partial says `Vary: HX-Request`, and a chart keeps an unknown figure as null, never 0."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from retailops.charts import chart
from retailops.htmx import HtmxPartialMixin


def _view_classes(patterns=None):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from _view_classes(p.url_patterns)
        elif isinstance(p, URLPattern) and hasattr(p.callback, "view_class"):
            yield p.callback.view_class


HTMX_VIEWS = sorted({v for v in _view_classes() if issubclass(v, HtmxPartialMixin)}, key=lambda v: v.__qualname__)


def test_the_pages_that_switch_on_htmx_use_the_one_mixin_with_a_partial_that_exists():
    names = {v.__name__ for v in HTMX_VIEWS}
    assert {
        "ProductListView",
        "StockLevelListView",
        "StockCountDetailView",
        "ShrinkageView",
        "ForecastOverviewView",
        "RunDetailView",
        "CustomerListView",
        "InsightsView",
        "SalesDashboardView",
        "ImportBatchDetailView",
    } <= names
    for view in HTMX_VIEWS:
        assert view.partial_template_name, view
        get_template(view.partial_template_name)  # raises if the partial is missing


def test_no_view_writes_the_partial_check_again():
    root = Path(settings.BASE_DIR)
    found = [
        str(path.relative_to(root))
        for app in ("inventory", "customers", "sales", "forecasting", "reports", "demo", "retailops")
        for path in (root / app).rglob("*.py")
        if "tests" not in path.parts and "htmx.boosted" in path.read_text()
    ]
    assert found == ["retailops/htmx.py"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, partial",
    [
        ("inventory:product_list", "inventory/partials/_product_table.html"),
        ("inventory:stocklevel_list", "inventory/partials/_stocklevel_table.html"),
        ("inventory:shrinkage", "inventory/partials/_shrinkage.html"),
        ("forecasting:forecast_overview", "forecasting/partials/_series_table.html"),
        ("customer_reports:customer_list", "customers/partials/_customer_table.html"),
        ("reports:dashboard", "reports/partials/_dash_sales_body.html"),
    ],
)
def test_a_page_and_its_htmx_partial_both_vary_on_hx_request(world, client, name, partial):
    client.force_login(world.owner)
    url = reverse(name)

    page = client.get(url)
    body = client.get(url, headers={"HX-Request": "true"})
    boosted = client.get(url, headers={"HX-Request": "true", "HX-Boosted": "true"})

    for response in (page, body, boosted):
        assert response.status_code == 200
        assert "HX-Request" in response["Vary"]
    assert [t.name for t in body.templates][0] == partial
    assert partial != [t.name for t in page.templates][0] == [t.name for t in boosted.templates][0]


def test_a_chart_keeps_an_unknown_figure_as_null_and_a_zero_as_zero():
    config = json.loads(chart("bar", ["a", "b", 3], [{"label": "Revenue", "data": [None, Decimal("1.50"), 0]}]))

    assert config["data"]["labels"] == ["a", "b", "3"]
    assert config["data"]["datasets"][0]["data"] == [None, 1.5, 0.0]
    assert '"data": [null, 1.5, 0.0]' in chart("line", ["x"], [{"label": "L", "data": [None, 1.5, 0]}])
