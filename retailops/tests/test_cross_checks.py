"""The product agrees with itself: on a small demo chain, every figure shown in two places is the same figure.

Each check reads what the user is shown — the context a page or partial renders with, through the test client,
as the owner — and sets it against the accountant's export pack or against the rule the figure must follow.
A mismatch is collected with where it was seen, so one run lists every disagreement at once.
"""

import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import QueryDict
from django.utils import timezone

from customers.models import Customer, LoyaltyTier
from customers.services import tier_expected
from customers.tests.test_tiers_match_spend import qualifying_spend
from demo.load import demo_load
from demo.tests.test_demo import TINY
from forecasting.models import ReorderSuggestion
from forecasting.services import reorder_plan
from inventory.models import Product, Store

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 31)  # the last day of the demo chain's sales
# Four stores in two chains; a week, a month, a quarter and a day, past and up to the last day of sales.
PERIODS = [
    (date(2026, 3, 25), date(2026, 3, 31)),
    (date(2026, 2, 1), date(2026, 2, 28)),
    (date(2026, 1, 1), date(2026, 3, 31)),
    (date(2025, 12, 24), date(2025, 12, 24)),
]


@pytest.fixture
def chain(client, monkeypatch):
    """The tiny demo chain with its current forecast and one made as of four weeks earlier (as the demo does).

    The clock is frozen at the chain's last day of sales, so "today" and "the forecast's first week" are
    the chain's own."""
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)
    demo_load(config=replace(TINY, end_date=TODAY))
    call_command("forecast_run", "--inline", "--horizon", "28", verbosity=0, stdout=open("/dev/null", "w"))
    call_command(
        "forecast_run",
        "--inline",
        "--as-of",
        (TODAY - timedelta(days=28)).isoformat(),
        verbosity=0,
        stdout=open("/dev/null", "w"),
    )
    assert client.login(username="owner", password="owner-demo-2026")
    return client


def _get(client, url: str, params: list[tuple[str, str]]):
    response = client.get(url, params if not params else _qs(params))
    assert response.status_code == 200, (url, params, response.status_code)
    return response.context


def _qs(params):
    q = QueryDict(mutable=True)
    for k, v in params:
        q.appendlist(k, v)
    return q


def _summary(context) -> dict[str, Decimal]:
    return {row[0]: row[1] for row in context["summary"].rows}


def store_sets() -> list[list[Store]]:
    stores = list(Store.objects.order_by("code"))
    chains = sorted({s.chain for s in stores})
    other_chain = [s for s in stores if s.chain == chains[-1]]
    return [[], [stores[0]], [stores[0], other_chain[0]]]


def check_export_pack_against_pages(client) -> list[str]:
    """Every figure of the export pack's summary equals the page that shows it, for 4 periods × 3 store sets."""
    mismatches = []

    def same(what, pack, page, where):
        if pack != page:
            mismatches.append(f"{what} {where}: export pack {pack} ≠ page {page}")

    for start, end in PERIODS:
        for stores in store_sets():
            params = [("period", "custom"), ("start", start.isoformat()), ("end", end.isoformat())]
            params += [("store", str(s.pk)) for s in stores]
            where = f"{start}..{end} stores {[s.code for s in stores] or 'all'}"
            pack = _summary(_get(client, "/sales/exports/", params))
            kpis = _get(client, "/sales/dashboard/kpis/", params)["kpis"]["current"]
            profit = _get(client, "/sales/profit/summary/", params)["profit"]
            flow = _get(client, "/sales/cash-flow/periods/", params)["flow"]["totals"]
            same("net sales (sales dashboard)", pack["Net sales"], kpis["revenue"], where)
            same("net sales (profit page)", pack["Net sales"], profit["revenue"], where)
            same("gross profit", pack["Gross profit"], profit["gross_profit"], where)
            same("cost of sales", pack["Cost of sales"], profit["cost"], where)
            same("discounts", pack["Discounts"], profit["discount"], where)
            same(
                "shrinkage (count corrections and write-offs)",
                pack["Count corrections and write-offs (value)"],
                -profit["shrinkage"]["total"],
                where,
            )
            same("purchases paid (cash out)", pack["Purchases paid in period"], _money(flow["out"]), where)
            same(
                "cash takings (cash in)", pack["Cash takings (excl. vouchers / points)"], _money(flow["cash_in"]), where
            )
            if len(stores) <= 1:  # the liability page filters by one store or all
                liability = _get(
                    client,
                    "/customers/points-liability/",
                    [("day", end.isoformat())] + [("store", str(s.pk)) for s in stores],
                )["at_day"]
                same("points outstanding", pack["Loyalty points outstanding (points)"], liability["points"], where)
                same("points liability (value)", pack["Loyalty points liability (value)"], liability["value"], where)
            if end == TODAY:  # the inventory dashboard shows stock now; the pack values it at the period's end
                inv = _get(client, "/sales/inventory-kpis/overview/", params)["inv"]
                same("inventory value", pack["Inventory value at period end"], _money(inv["total"]["value"]), where)
    return mismatches


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def check_forward_cash(client) -> list[str]:
    """Forward cash counts every week the current forecast covers, and no week past it."""
    fwd = _get(client, "/sales/cash-flow/forward/", [])["fwd"]
    rows = fwd["rows"]
    covered = [r for r in rows if r["in"] is not None and not r.get("partial")]
    assert len(covered) >= 3, rows  # a 28-day forecast from the day after TODAY covers three whole weeks at least
    assert all(r["in"] > 0 for r in covered), [(r["label"], r["in"]) for r in rows]
    assert all(r["in"] is None for r in rows[rows.index(covered[-1]) + 2 :]), rows


def _ceil_case(qty: Decimal, case: int) -> Decimal:
    if qty <= 0:
        return Decimal(0)
    return (qty / case).to_integral_value(rounding=ROUND_CEILING) * case


def check_transfers(client) -> list[str]:
    """No buy line grows when a transfer is added; transfers only between stores that can move stock."""
    stores = list(Store.objects.filter(active=True).values_list("pk", flat=True))
    plan = reorder_plan(store_ids=stores)
    transfers_in: dict[tuple[int, int], Decimal] = {}
    senders = {}
    for ln in plan.lines:
        if ln.kind == ReorderSuggestion.Kind.TRANSFER:
            key = (ln.store_id, ln.product_id)
            transfers_in[key] = transfers_in.get(key, Decimal(0)) + ln.quantity
            senders.setdefault(ln.product_id, set()).add((ln.source_store_id, ln.store_id))
    assert plan.lines
    store_of = {s.pk: s for s in Store.objects.all()}
    wrong = []
    for ln in plan.lines:
        if ln.kind != ReorderSuggestion.Kind.PURCHASE:
            continue
        moved = transfers_in.get((ln.store_id, ln.product_id), Decimal(0))
        case = Product.objects.get(pk=ln.product_id).case_pack
        if ln.quantity > ln.result.quantity:
            wrong.append(f"{ln.store_id}/{ln.product_id}: buys {ln.quantity} > {ln.result.quantity} before transfers")
        if moved and ln.quantity > _ceil_case(ln.result.raw_quantity - moved, case):
            wrong.append(
                f"{ln.store_id}/{ln.product_id}: need {ln.result.raw_quantity}, {moved} in, buys {ln.quantity}"
            )
    for pairs in senders.values():
        for sender, receiver in pairs:
            a, b = store_of[sender], store_of[receiver]
            if (a.chain, a.currency) != (b.chain, b.currency) and not (
                a.transfer_group and a.transfer_group == b.transfer_group
            ):
                wrong.append(f"transfer {a.code} → {b.code} between stores that cannot move stock to each other")
    return wrong


def check_tiers(client) -> list[str]:
    """Every customer holds the tier the tier rule gives their qualifying spend."""
    # the spend is summed from the receipts here, not by the service that requalifies
    as_of = datetime.combine(TODAY + timedelta(days=1), time.min, ZoneInfo("Europe/London"))
    tiers = list(LoyaltyTier.objects.order_by("threshold"))
    wrong = [
        (c.code, c.tier, qualifying_spend(c, as_of))
        for c in Customer.objects.filter(merged_into__isnull=True).select_related("tier")
        if c.tier != tier_expected(spend=qualifying_spend(c, as_of), tiers=tiers)
    ]
    assert Customer.objects.count() > 50
    return [f"{code}: holds {tier}, spent {spend}" for code, tier, spend in wrong[:10]]


def check_home_alerts(client) -> list[str]:
    """The home alert counts count the rows they stand beside, and the forecast panel repeats the same figures."""

    seen_rows = 0
    for user in ("owner", "staff", "staff2"):
        client.force_login(get_user_model().objects.get(username=user))
        panel = client.get("/inventory/partials/stock-alerts/").content.decode()
        rows = re.findall(r'data-testid="low-row" data-covered="(yes|no)"', panel)
        hidden = re.search(r'data-testid="low-hidden">(\d+) more', panel)
        to_order = re.search(r'data-testid="low-to-order">(\d+) to order', panel)
        covered = re.search(r'data-testid="low-covered">(\d+) covered', panel)
        shown = {"no": int(to_order.group(1)) if to_order else 0, "yes": int(covered.group(1)) if covered else 0}
        assert len(rows) + (int(hidden.group(1)) if hidden else 0) == shown["no"] + shown["yes"], (user, panel)
        if not hidden:
            assert rows.count("no") == shown["no"] and rows.count("yes") == shown["yes"], (user, panel)
        forecast_panel = client.get("/forecasting/partials/alerts/").content.decode()
        if shown["no"] + shown["yes"]:
            expected = f"Low stock — {shown['no']} to order"
            assert expected in forecast_panel, (user, expected, forecast_panel)
        seen_rows += len(rows)
    assert seen_rows, "the demo chain has low stock to show"
    return []


def check_forward_cash_wrapper(client) -> list[str]:
    check_forward_cash(client)
    return []


CHECKS = [check_export_pack_against_pages, check_forward_cash_wrapper, check_transfers, check_tiers, check_home_alerts]


def test_the_product_agrees_with_itself_on_the_demo_chain(chain):
    """One load of the chain, every cross-check; each failing check is listed with what it saw."""
    problems = []
    for check in CHECKS:
        try:
            problems += [f"{check.__name__}: {p}" for p in check(chain)]
        except AssertionError as exc:
            problems.append(f"{check.__name__}: {exc}")
    assert not problems, "\n".join(problems)
