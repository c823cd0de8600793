"""A planned promotion's expected uplift, before it starts: for the products × stores it covers (those the user
sees), over its days, the current forecast's units without the promotion against the uplift that the engine's
learned promotion effect implies.

The effect is the engine's own (:class:`forecasting.engine.CalendarModel`, built on the last year of history and
calendar as a run builds it): uplift = 1 + g × discount share, g learned per series and shrunk toward its category
and store. Learning it reads no forecast model, so the preview is quick; the page says how it was learned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from inventory.models import Product, Store
from retailops.permissions import RolePermissionMixin

from . import calendar as retail_calendar
from . import engine, selectors
from .models import DemandForecast, Promotion

LEARN_DAYS = 365  # history read to learn the effect
MAX_ROWS = 30  # lines listed one by one (the rest are in the totals)
METHOD = (
    "The effect is the one the forecast engine learns from the last year's promotions: units sold on promotion days "
    "against the same weekday's usual level, per unit of discount (20 % off = 0.2), shrunk toward the product's "
    "category and store when it has had few promotions."
)


@dataclass
class UpliftLine:
    store: Store
    product: Product
    forecast: float | None  # units the current forecast expects over the promotion's days (None: beyond it)
    baseline: float | None  # the same without the promotion, when the forecast knew of it
    uplift: float | None  # extra units the learned effect implies over the promotion's days (None: no forecast)
    effect: float  # the learned extra share of sales at this discount (0.4 = +40 %)
    promo_days: int  # past promotion days of this series the effect was learned from
    share: float


@dataclass
class UpliftPreview:
    promotion: Promotion
    days: list[date]
    lines: list[UpliftLine] = field(default_factory=list)
    forecast_total: float = 0.0
    base_total: float = 0.0
    uplift_total: float = 0.0
    days_covered: int = 0  # promotion days the current forecast reaches
    run_before: bool = False  # the current forecast was made before the promotion was entered
    line_count: int = 0  # product × store lines in the totals (only the MAX_ROWS largest are listed)
    messages: list[str] = field(default_factory=list)

    @property
    def uplift_share(self) -> float | None:
        return self.uplift_total / self.base_total if self.base_total > 0 else None


def _pairs(promotion: Promotion, stores: list[Store]) -> list[tuple[int, int]]:
    """(store, product) pairs the promotion covers among ``stores``: its products and its categories' active goods."""
    chosen = set(promotion.stores.values_list("pk", flat=True))
    store_ids = [s.pk for s in stores if not chosen or s.pk in chosen]
    categories = list(promotion.categories.values_list("pk", flat=True))
    products = set(promotion.products.values_list("pk", flat=True))
    if categories:  # a top category includes its sub-categories
        goods = Product.objects.filter(active=True, kind=Product.Kind.GOODS)
        products |= set(
            goods.filter(Q(category_id__in=categories) | Q(category__parent_id__in=categories)).values_list(
                "pk", flat=True
            )
        )
    return [(s, p) for s in store_ids for p in sorted(products)]


def learned_effects(*, pairs: list[tuple[int, int]], end: date, days: int = LEARN_DAYS) -> dict[tuple[int, int], dict]:
    """(store, product) → {"elasticity": g, "promo_days": n}: the promotion effect the engine learns from the
    ``days`` days up to ``end`` (:class:`forecasting.engine.CalendarModel`, as a run does: uplift = 1 + g × the
    discount share, g shrunk toward the series' category and store when it has few promotion days)."""
    sales = selectors.demand_history_frame(pairs=pairs, end=end, days=days)
    out = {key: {"elasticity": 0.0, "promo_days": 0} for key in pairs}
    if sales.empty:
        return out
    stock = selectors.stock_delta_frame(pairs=pairs, end=end)
    demand = engine.prepare_demand(sales, stock=stock, end=end)
    demand = demand[demand["ds"] > pd.Timestamp(end - timedelta(days=days))]
    calendar = retail_calendar.calendar_frame(pairs=pairs, start=end - timedelta(days=days - 1), end=end)
    model = engine.CalendarModel(
        demand[["unique_id", "ds", "y"]], calendar, groups=selectors.series_groups_frame(pairs=pairs), horizon=1
    )
    for uid, effect in model.effects.items():
        key = selectors.series_split(uid)
        if key in out:
            out[key] = {"elasticity": max(effect["promo_per_discount"], 0.0), "promo_days": effect["promo_days"]}
    return out


def promotion_uplift(*, promotion: Promotion, user) -> UpliftPreview:
    """The expected uplift of ``promotion`` in the stores ``user`` sees (see the module's docstring)."""
    days = [promotion.start + timedelta(days=i) for i in range((promotion.end - promotion.start).days + 1)]
    preview = UpliftPreview(promotion=promotion, days=days)
    stores = list(Store.objects.for_user(user).filter(active=True).order_by("code"))
    pairs = _pairs(promotion, stores)
    if not pairs:
        preview.messages.append("This promotion covers no product in the stores you see.")
        return preview
    run = selectors.latest_run(store_ids=sorted({s for s, _ in pairs})) or selectors.latest_run()
    end = run.history_end if run else selectors.last_complete_day()
    effects = learned_effects(pairs=pairs, end=min(end, promotion.start - timedelta(days=1)))
    rows: dict[tuple[int, int], dict[date, tuple[float, float | None]]] = defaultdict(dict)
    if run is not None:
        preview.run_before = run.created_at < promotion.created_at
        qs = DemandForecast.objects.filter(
            run=run, date__gte=promotion.start, date__lte=promotion.end, store_id__in={s for s, _ in pairs}
        ).filter(product_id__in={p for _, p in pairs})
        for s, p, d, yhat, baseline in qs.values_list("store_id", "product_id", "date", "yhat", "baseline"):
            rows[(s, p)][d] = (yhat, baseline)
        preview.days_covered = len([d for d in days if d <= run.history_end + timedelta(days=run.horizon_days)])
    marks = selectors.calendar_days(pairs=pairs, start=promotion.start, end=promotion.end)
    by_store = {s.pk: s for s in stores}
    products = Product.objects.in_bulk({p for _, p in pairs})
    list_prices = {pk: p.mrp for pk, p in products.items()}
    lines = []
    for key in pairs:
        share = promotion.share_for(list_prices.get(key[1]))
        fc = rows.get(key, {})
        effect = effects.get(key, {"elasticity": 0.0, "promo_days": 0})
        forecast = sum(y for y, _ in fc.values()) if fc else None
        # Without the promotion: the stored baseline where the run knew of it, else the forecast itself.
        base = sum((b if b is not None else y) for y, b in fc.values()) if fc else None
        closed = {d for d, m in marks.get(key, {}).items() if m.get("closed")}
        if fc and closed:
            base -= sum((b if b is not None else y) for d, (y, b) in fc.items() if d in closed)
        factor = min(1 + effect["elasticity"] * share, engine.CAL_UPLIFT_RANGE[1]) - 1
        uplift = None if base is None else base * factor
        lines.append(
            UpliftLine(
                store=by_store[key[0]],
                product=products[key[1]],
                forecast=forecast,
                baseline=base,
                uplift=uplift,
                effect=effect["elasticity"] * share,
                promo_days=effect["promo_days"],
                share=share,
            )
        )
    preview.forecast_total = sum(ln.forecast or 0.0 for ln in lines)
    preview.base_total = sum(ln.baseline or 0.0 for ln in lines)
    preview.uplift_total = sum(ln.uplift or 0.0 for ln in lines)
    preview.line_count = len(lines)
    preview.lines = sorted(
        lines, key=lambda ln: (ln.uplift is None, -(ln.uplift or 0.0), ln.store.code, ln.product.sku)
    )[:MAX_ROWS]
    unforecast = sorted({ln.store.code for ln in lines if ln.forecast is None})
    if run is not None and unforecast:
        preview.messages.append(
            f"No forecast of these products over its days in {', '.join(unforecast[:10])}"
            f"{' …' if len(unforecast) > 10 else ''}: those lines are not counted."
        )
    if run is None:
        preview.messages.append("No forecast yet: start a forecast run to see the units these days expect.")
    elif preview.days_covered < len(days):
        reach = run.history_end + timedelta(days=run.horizon_days)
        preview.messages.append(
            f"The current forecast reaches {reach:%a %-d %b}: {len(days) - preview.days_covered} of the promotion's "
            f"{len(days)} days are beyond it and not counted."
        )
    if preview.run_before:
        preview.messages.append(
            "The current forecast was made before this promotion was entered: it does not include it yet; the next "
            "forecast run will."
        )
    return preview


class PromotionUpliftView(RolePermissionMixin, TemplateView):
    """The "Expected uplift" partial of a promotion (loaded into the promotion's page with hx-get)."""

    permission_required = "forecasting.view_demandforecast"  # it shows forecasts; the promotion is scoped below
    template_name = "forecasting/partials/_promotion_uplift.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        promotion = get_object_or_404(Promotion.objects.visible_to(self.request.user), pk=kwargs["pk"])
        ctx["preview"] = promotion_uplift(promotion=promotion, user=self.request.user)
        ctx["method"] = METHOD
        return ctx
