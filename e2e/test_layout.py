"""No page is wider than the window (issue #15, defect 11): desktop (1280 px) and phone (390 px).

A small demo chain is loaded so the tables carry real widths (customers with e-mails, profit by store
and category, shrinkage by count, a submitted count in the admin). At 1280 px the tables of the list
fit their card whole; at both widths the page never scrolls sideways, and any table wider than its
card sits in a scroll container (.table-wrap / the admin's inline box) instead of widening the page.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from demo.load import DemoConfig, demo_load
from e2e.conftest import login, screenshot
from inventory.models import StockCount

pytestmark = [pytest.mark.e2e]

PAGES = ["/", "/customers/", "/sales/profit/", "/inventory/shrinkage/", "/inventory/stock/"]
# Tables an owner must read whole on a desktop (they were cut off at 1280 px).
WHOLE_AT_1280 = {
    "/customers/": ["customer-table"],
    "/sales/profit/": ["table-profit-stores", "table-profit-categories"],
    "/inventory/shrinkage/": ["count-gaps"],
}
# Columns that must be on screen on a phone without scrolling the table.
VISIBLE_AT_390 = {"/": "This week", "/inventory/stock/": "Cover"}

MEASURE = """() => {
  const vw = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll('table')].map(t => {
    const r = t.getBoundingClientRect();
    let box = t.parentElement, scroller = null;
    while (box && box !== document.body) {
      if (/(auto|scroll)/.test(getComputedStyle(box).overflowX)) { scroller = box; break; }
      box = box.parentElement;
    }
    return {testid: t.dataset.testid || '', right: r.right, width: r.width,
            box: scroller ? scroller.getBoundingClientRect().width : null};
  });
  return {scrollWidth: document.documentElement.scrollWidth, vw, tables};
}"""

HEADER_ON_SCREEN = """(text) => {
  const want = text.toLowerCase();
  const th = [...document.querySelectorAll('th')].find(h => h.innerText.trim().toLowerCase().startsWith(want));
  if (!th) return null;
  const r = th.getBoundingClientRect();
  let box = th.closest('.table-wrap') || document.documentElement;
  const b = box.getBoundingClientRect();
  return r.right <= Math.min(b.right, document.documentElement.clientWidth) + 1;
}"""


@pytest.fixture
def chain(transactional_db):
    demo_load(
        config=DemoConfig(
            seed=11,
            stores=6,
            stores_per_chain=3,
            products=20,
            customers=60,
            days=70,
            end_date=timezone.localdate() - timedelta(days=1),
            lines_per_store_day=30,
            chunk_rows=5_000,
        )
    )


def test_no_page_is_wider_than_the_window(page_factory, chain):
    count = StockCount.objects.filter(status="submitted").order_by("-pk").first() or StockCount.objects.last()
    pages = [*PAGES, *([f"/admin/inventory/stockcount/{count.pk}/change/"] if count else [])]
    problems = []
    for width in (1280, 390):
        page = page_factory(width=width, height=900)
        login(page, "owner", "owner-demo-2026")
        for url in pages:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            m = page.evaluate(MEASURE)
            name = url.strip("/").replace("/", "-") or "home"
            screenshot(page, f"layout-{name}-{width}")
            if m["scrollWidth"] > width:
                problems.append(f"{url} at {width}px: the page is {m['scrollWidth']}px wide")
            for t in m["tables"]:
                if t["right"] > width + 1 and t["box"] is None:
                    problems.append(f"{url} at {width}px: table {t['testid']} overflows the page ({t['right']:.0f}px)")
            if width == 1280:
                for testid in WHOLE_AT_1280.get(url, []):
                    found = [t for t in m["tables"] if t["testid"] == testid]
                    assert found, f"{url}: no table {testid}"
                    t = found[0]
                    if t["box"] is not None and t["width"] > t["box"] + 1:
                        problems.append(f"{url} at 1280px: {testid} is cut off ({t['width']:.0f} > {t['box']:.0f}px)")
            if width == 390 and url in VISIBLE_AT_390:
                if page.evaluate(HEADER_ON_SCREEN, VISIBLE_AT_390[url]) is not True:
                    problems.append(f"{url} at 390px: the “{VISIBLE_AT_390[url]}” column is off screen")
    assert problems == []
