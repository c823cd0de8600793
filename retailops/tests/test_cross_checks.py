"""The product agrees with itself: on a small demo chain, every figure shown in two places is the same figure.

Each check reads what the user is shown — the context a page or partial renders with, through the test client,
as the owner — and sets it against the accountant's export pack or against the rule the figure must follow.
A mismatch is collected with where it was seen, so one run lists every disagreement at once.
"""

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.models import Customer, LoyaltyTier
from customers.services import tier_expected
from customers.tests.test_tiers_match_spend import qualifying_spend
from forecasting.models import ReorderSuggestion
from forecasting.services import reorder_plan
from inventory.models import Product, Store
from sales.demo import demo_load
from sales.tests.test_demo import TINY

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
    from django.http import QueryDict

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


def test_every_figure_of_the_export_pack_equals_the_page_that_shows_it(chain):
    client = chain
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
    assert not mismatches, "\n".join(mismatches)


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_forward_cash_counts_every_week_the_current_forecast_covers(chain):
    fwd = _get(chain, "/sales/cash-flow/forward/", [])["fwd"]
    rows = fwd["rows"]
    covered = [r for r in rows if r["in"] is not None and not r.get("partial")]
    assert len(covered) >= 3, rows  # a 28-day forecast from the day after TODAY covers three whole weeks at least
    assert all(r["in"] > 0 for r in covered), [(r["label"], r["in"]) for r in rows]
    assert all(r["in"] is None for r in rows[rows.index(covered[-1]) + 2 :]), rows


def _ceil_case(qty: Decimal, case: int) -> Decimal:
    if qty <= 0:
        return Decimal(0)
    return (qty / case).to_integral_value(rounding=ROUND_CEILING) * case


def test_no_buy_line_grows_when_a_transfer_is_added(chain):
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
    assert not wrong, "\n".join(wrong)


def test_every_customer_holds_the_tier_the_tier_rule_gives(chain):
    # the spend is summed from the receipts here, not by the service that requalifies
    as_of = datetime.combine(TODAY + timedelta(days=1), time.min, ZoneInfo("Europe/London"))
    tiers = list(LoyaltyTier.objects.order_by("threshold"))
    wrong = [
        (c.code, c.tier, qualifying_spend(c, as_of))
        for c in Customer.objects.filter(merged_into__isnull=True).select_related("tier")
        if c.tier != tier_expected(spend=qualifying_spend(c, as_of), tiers=tiers)
    ]
    assert Customer.objects.count() > 50
    assert not wrong, wrong[:10]
