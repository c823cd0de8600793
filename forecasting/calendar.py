"""The retail calendar as data: what makes a (store, product, day) not an ordinary day.

Interface shared with the engine (E) and the wiring (F) — keep these signatures:

    calendar_frame(*, pairs, start, end) -> pd.DataFrame
    promotions_for(*, store_id, product_id, start, end) -> list[Promotion]

Also here: the writes of the calendar (promotions with their overlap check, closures, confirming detected
weekly closing days) and `closing_days_detect()` (nightly). Layering: forecasting reads inventory and sales.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

import holidays as holidays_lib
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory.models import Category, Product, Store

from .models import HolidayOverride, Promotion, StoreClosure, WeeklyClosingDay

CALENDAR_COLUMNS = ["unique_id", "ds", "closed", "promo", "holiday"]
DETECT_WEEKS = 8


def series_id(store_id: int, product_id: int) -> str:
    """The series key, as forecasting.selectors.series_id (not imported: selectors reads this module)."""
    return f"{store_id}:{product_id}"


def empty_calendar_frame() -> pd.DataFrame:
    """A calendar frame with no rows and the right columns and dtypes."""
    return pd.DataFrame(
        {
            "unique_id": pd.Series([], dtype=object),
            "ds": pd.Series([], dtype="datetime64[ns]"),
            "closed": pd.Series([], dtype=bool),
            "promo": pd.Series([], dtype=float),
            "holiday": pd.Series([], dtype=bool),
        }
    )


# --- public holidays ------------------------------------------------------------------------------------------


@cache
def _country_holidays(country: str, subdivision: str, year: int) -> dict[date, str]:
    try:
        found = holidays_lib.country_holidays(country or "GB", subdiv=subdivision or None, years=[year])
    except (NotImplementedError, KeyError):  # an unknown country or region: no public holidays, never an error
        return {}
    return dict(found.items())


def public_holidays(*, country: str, subdivision: str, start: date, end: date) -> dict[date, str]:
    """The public holidays of a country (and region) from start to end inclusive: {day: name}."""
    out: dict[date, str] = {}
    for year in range(start.year, end.year + 1):
        out.update({d: n for d, n in _country_holidays(country, subdivision, year).items() if start <= d <= end})
    return out


def store_holidays(*, store: Store, start: date, end: date) -> list[dict]:
    """A store's holidays with its overrides applied, for pages: [{date, name, trading}] ordered by date;
    trading is "closed", "short day", or "open as usual" (public holiday the store trades normally)."""
    public = public_holidays(country=store.country, subdivision=store.subdivision, start=start, end=end)
    overrides = {o.date: o for o in HolidayOverride.objects.filter(store=store, date__range=(start, end))}
    rows = []
    for day in sorted(set(public) | set(overrides)):
        override = overrides.get(day)
        trading = override.get_kind_display() if override else "holiday"
        rows.append({"date": day, "name": public.get(day, override.note if override else ""), "trading": trading})
    return rows


# --- the frame ------------------------------------------------------------------------------------------------


def _weekday_dates(days: pd.DatetimeIndex, weekday: int) -> pd.DatetimeIndex:
    return days[days.weekday == weekday]


def closed_store_ids(day: date) -> set[int]:
    """Stores shut on `day`: a one-off closure, a confirmed weekly closing day, or a holiday marked closed."""
    shut = set(StoreClosure.objects.filter(date=day).values_list("store_id", flat=True))
    shut |= set(
        WeeklyClosingDay.objects.filter(weekday=day.weekday(), confirmed=True).values_list("store_id", flat=True)
    )
    shut |= set(
        HolidayOverride.objects.filter(date=day, kind=HolidayOverride.Kind.CLOSED).values_list("store_id", flat=True)
    )
    return shut


def calendar_frame(*, pairs: list[tuple[int, int]], start: date, end: date) -> pd.DataFrame:
    """The calendar of the given series over ``start``..``end`` (both inclusive, history and horizon).

    ``pairs`` are ``(store_id, product_id)``. Returns one row per (series, day) that is NOT an ordinary day,
    with columns:

    - ``unique_id`` (str): ``forecasting.selectors.series_id(store_id, product_id)``;
    - ``ds`` (datetime64[ns], midnight);
    - ``closed`` (bool): the store is shut that day — a one-off ``StoreClosure``, a *confirmed* weekly closing
      day (a detected one counts only once confirmed), or a ``HolidayOverride`` "closed";
    - ``promo`` (float ≥ 0): the discount share of the deepest promotion covering the product in that store that
      day (0.2 = 20 % off; a promo price becomes a share against the product's list price, ``mrp``); 0.0 = none;
    - ``holiday`` (bool): a public holiday of the store's country/subdivision (``holidays`` package) that the
      store does not override to "open as usual", or an override "short day" / "closed" on any day.

    Days with none of these are left out (an ordinary day has no row). Rows are sorted by unique_id, ds, one
    row per (unique_id, ds). Pairs with unknown stores or products give no rows. Set-based: a fixed handful of
    queries (about nine) whatever the number of pairs or days.
    """
    if not pairs or end < start:
        return empty_calendar_frame()
    pair_df = pd.DataFrame(list(dict.fromkeys(pairs)), columns=["store_id", "product_id"]).astype("int64")
    store_ids = sorted(set(pair_df["store_id"]))
    product_ids = sorted(set(pair_df["product_id"]))
    stores = {s["pk"]: s for s in Store.objects.filter(pk__in=store_ids).values("pk", "country", "subdivision")}
    fields = ("pk", "category_id", "category__parent_id", "mrp")
    products = {p["pk"]: p for p in Product.objects.filter(pk__in=product_ids).values(*fields)}
    pair_df = pair_df[pair_df["store_id"].isin(stores) & pair_df["product_id"].isin(products)]
    if pair_df.empty:
        return empty_calendar_frame()
    pair_df["unique_id"] = [series_id(s, p) for s, p in zip(pair_df["store_id"], pair_df["product_id"], strict=True)]
    days = pd.date_range(start, end, freq="D")

    # store × day facts: closed, holiday
    closed: list[tuple[int, pd.Timestamp]] = []
    holiday: list[tuple[int, pd.Timestamp]] = []
    not_holiday: set[tuple[int, pd.Timestamp]] = set()
    for store_id, day in StoreClosure.objects.filter(store_id__in=stores, date__range=(start, end)).values_list(
        "store_id", "date"
    ):
        closed.append((store_id, pd.Timestamp(day)))
    for store_id, weekday in WeeklyClosingDay.objects.filter(store_id__in=stores, confirmed=True).values_list(
        "store_id", "weekday"
    ):
        closed.extend((store_id, d) for d in _weekday_dates(days, weekday))
    for store_id, info in stores.items():
        for day in public_holidays(country=info["country"], subdivision=info["subdivision"], start=start, end=end):
            holiday.append((store_id, pd.Timestamp(day)))
    for store_id, day, kind in HolidayOverride.objects.filter(
        store_id__in=stores, date__range=(start, end)
    ).values_list("store_id", "date", "kind"):
        key = (store_id, pd.Timestamp(day))
        if kind == HolidayOverride.Kind.OPEN:
            not_holiday.add(key)
        else:
            holiday.append(key)
            if kind == HolidayOverride.Kind.CLOSED:
                closed.append(key)
    holiday = [k for k in holiday if k not in not_holiday]
    facts = [
        pd.DataFrame(rows, columns=["store_id", "ds"]).assign(closed=is_closed, holiday=not is_closed)
        for rows, is_closed in ((closed, True), (holiday, False))
        if rows
    ]
    parts = []
    if facts:
        store_days = pd.concat(facts, ignore_index=True)
        store_days = store_days.groupby(["store_id", "ds"], as_index=False)[["closed", "holiday"]].max()
        parts.append(pair_df.merge(store_days, on="store_id")[["unique_id", "ds", "closed", "holiday"]])

    # promotions: (store, product, day) → deepest share
    promo_rows = _promotion_rows(pair_df, products, start=start, end=end)
    if promo_rows is not None:
        parts.append(promo_rows)
    if not parts:
        return empty_calendar_frame()
    frame = pd.concat(parts, ignore_index=True)
    for column, default in (("closed", False), ("holiday", False), ("promo", 0.0)):
        if column not in frame:
            frame[column] = default
    frame["closed"] = frame["closed"].eq(True)  # NaN (a promotion-only row) → False
    frame["holiday"] = frame["holiday"].eq(True)
    frame["promo"] = pd.to_numeric(frame["promo"]).fillna(0.0).astype(float)
    frame = frame.groupby(["unique_id", "ds"], as_index=False).agg(
        closed=("closed", "max"), promo=("promo", "max"), holiday=("holiday", "max")
    )
    frame["ds"] = pd.to_datetime(frame["ds"]).astype("datetime64[ns]")
    return frame[CALENDAR_COLUMNS].sort_values(["unique_id", "ds"], ignore_index=True)


def _promotion_rows(pair_df: pd.DataFrame, products: dict[int, dict], *, start: date, end: date):
    fields = ("pk", "start", "end", "discount_percent", "promo_price")
    promos = list(Promotion.objects.overlapping(start, end).only(*fields))
    if not promos:
        return None
    ids = [p.pk for p in promos]
    through = Promotion.stores.through.objects.filter(promotion_id__in=ids).values_list("promotion_id", "store_id")
    promo_stores: dict[int, set[int]] = defaultdict(set)
    for pk, store_id in through:
        promo_stores[pk].add(store_id)
    promo_products: dict[int, set[int]] = defaultdict(set)
    for pk, product_id in Promotion.products.through.objects.filter(promotion_id__in=ids).values_list(
        "promotion_id", "product_id"
    ):
        promo_products[pk].add(product_id)
    by_category: dict[int, set[int]] = defaultdict(set)  # a category (top or sub) → the asked products in it
    for pk, info in products.items():
        for cat in (info["category_id"], info["category__parent_id"]):
            if cat:
                by_category[cat].add(pk)
    for pk, category_id in Promotion.categories.through.objects.filter(promotion_id__in=ids).values_list(
        "promotion_id", "category_id"
    ):
        promo_products[pk] |= by_category.get(category_id, set())
    chunks = []
    for promo in promos:
        targets = promo_products.get(promo.pk)
        if not targets:
            continue
        mask = pair_df["product_id"].isin(targets)
        if promo.pk in promo_stores:
            mask &= pair_df["store_id"].isin(promo_stores[promo.pk])
        hit = pair_df.loc[mask, ["unique_id", "product_id"]]
        if hit.empty:
            continue
        shares = hit["product_id"].map({p: promo.share_for(products[p]["mrp"]) for p in set(hit["product_id"])})
        hit = hit.assign(promo=shares.astype(float))[lambda f: f["promo"] > 0]
        span = pd.date_range(max(promo.start, start), min(promo.end, end), freq="D")
        if hit.empty or span.empty:
            continue
        chunks.append(hit[["unique_id", "promo"]].merge(pd.DataFrame({"ds": span}), how="cross"))
    if not chunks:
        return None
    return pd.concat(chunks, ignore_index=True)


# --- promotions for one series ----------------------------------------------------------------------------------


def _category_ids_of(product: Product) -> list[int]:
    ids = []
    if product.category_id:
        ids.append(product.category_id)
        if product.category.parent_id:
            ids.append(product.category.parent_id)
    return ids


def promotions_for(*, store_id: int, product_id: int, start: date, end: date) -> list[Promotion]:
    """The promotions that cover ``product_id`` in ``store_id`` on any day of ``start``..``end``.

    Directly (the product) or through its category (or its parent category); a promotion with no stores is
    chain-wide. Ordered by start. For explanations and pages ("promotion 12–18 Dec, 20 % off"); use
    ``promotion.share_for(product.mrp)`` for the share.
    """
    product = Product.objects.select_related("category").filter(pk=product_id).first()
    if product is None:
        return []
    target = Q(products=product_id) | Q(categories__in=_category_ids_of(product))
    where = Q(stores__isnull=True) | Q(stores=store_id)
    found = Promotion.objects.overlapping(start, end).filter(target).filter(pk__in=Promotion.objects.filter(where))
    return list(found.distinct().order_by("start", "pk"))


# --- writes ---------------------------------------------------------------------------------------------------


def promotion_products(*, product_ids: Iterable[int], category_ids: Iterable[int]) -> set[int]:
    """Product ids targeted: the products plus every product of the categories (a top category: its children's too)."""
    product_ids, category_ids = set(product_ids), set(category_ids)
    if category_ids:
        in_cats = Product.objects.filter(Q(category_id__in=category_ids) | Q(category__parent_id__in=category_ids))
        product_ids |= set(in_cats.values_list("pk", flat=True))
    return product_ids


def promotion_overlaps(
    *,
    start: date,
    end: date,
    store_ids: Iterable[int],
    product_ids: Iterable[int],
    category_ids: Iterable[int],
    exclude_pk: int | None = None,
    pending: Iterable[dict] = (),
) -> list[str]:
    """Plain-English clashes of a promotion with the ones already saved (and ``pending`` ones of the same import:
    dicts with name, start, end, store_ids, product_ids (expanded)) on the same product in the same store."""
    mine = promotion_products(product_ids=product_ids, category_ids=category_ids)
    stores = set(store_ids)
    others = []
    for promo in (
        Promotion.objects.overlapping(start, end)
        .exclude(pk=exclude_pk)
        .prefetch_related("stores", "products", "categories")
    ):
        others.append(
            {
                "name": promo.name,
                "start": promo.start,
                "end": promo.end,
                "store_ids": {s.pk for s in promo.stores.all()},
                "product_ids": promotion_products(
                    product_ids=[p.pk for p in promo.products.all()],
                    category_ids=[c.pk for c in promo.categories.all()],
                ),
            }
        )
    others += [o for o in pending if o["start"] <= end and o["end"] >= start]
    clashes = []
    for other in others:
        same_store = not stores or not other["store_ids"] or bool(stores & other["store_ids"])
        common = mine & other["product_ids"]
        if same_store and common:
            names = list(Product.objects.filter(pk__in=sorted(common)[:3]).values_list("sku", flat=True))
            more = f" and {len(common) - 3} more" if len(common) > 3 else ""
            clashes.append(
                f"It overlaps the promotion “{other['name']}” ({other['start']:%d %b %Y}–{other['end']:%d %b %Y}) "
                f"on {', '.join(names)}{more} in the same store."
            )
    return clashes


@transaction.atomic
def promotion_create(
    *,
    name: str,
    start: date,
    end: date,
    stores: Iterable[Store] = (),
    products: Iterable[Product] = (),
    categories: Iterable[Category] = (),
    discount_percent: Decimal | None = None,
    promo_price: Decimal | None = None,
    created_by=None,
    notes: str = "",
) -> Promotion:
    """Create a promotion; ValidationError (plain English) for end before start, neither/both discount kinds,
    nothing targeted, or an overlap with another promotion on the same product in the same store."""
    stores, products, categories = list(stores), list(products), list(categories)
    promo = Promotion(
        name=name,
        start=start,
        end=end,
        discount_percent=discount_percent,
        promo_price=promo_price,
        created_by=created_by,
        notes=notes,
    )
    errors: list[str] = []
    try:
        promo.full_clean()
    except ValidationError as exc:
        errors += [m for ms in exc.message_dict.values() for m in ms]
    if not products and not categories:
        errors.append("Choose at least one product or category for the promotion.")
    if not errors:
        errors += promotion_overlaps(
            start=start,
            end=end,
            store_ids=[s.pk for s in stores],
            product_ids=[p.pk for p in products],
            category_ids=[c.pk for c in categories],
        )
    if errors:
        raise ValidationError(errors)
    promo.save()
    promo.stores.set(stores)
    promo.products.set(products)
    promo.categories.set(categories)
    return promo


@transaction.atomic
def closing_day_confirm(*, closing_day_id: int, user, confirmed: bool = True) -> WeeklyClosingDay:
    """Confirm (or reject: delete) a detected weekly closing day."""
    day = WeeklyClosingDay.objects.select_for_update().get(pk=closing_day_id)
    if not confirmed:
        day.delete()
        return day
    day.confirmed = True
    day.confirmed_by = user
    day.save(update_fields=["confirmed", "confirmed_by"])
    return day


# --- detection of weekly closing days ---------------------------------------------------------------------------


@transaction.atomic
def closing_days_detect(*, today: date | None = None, weeks: int = DETECT_WEEKS) -> dict:
    """Weekly closing days from the sales history: for each active store that traded in the ``weeks`` weeks
    before ``today`` (and already traded before them), a weekday with no sales on any of its ``weeks``
    occurrences becomes a detected, unconfirmed WeeklyClosingDay (shown for confirmation; used once confirmed).
    A detected day not yet confirmed whose weekday has sales again is dropped. Idempotent; a few queries."""
    from django.db.models import Min  # noqa: PLC0415 — only here

    from sales.models import StoreDaily  # noqa: PLC0415 — forecasting reads sales (layering allows it)

    today = today or timezone.localdate()
    window_end = today - timedelta(days=1)
    window_start = today - timedelta(days=7 * weeks)
    active = list(Store.objects.filter(active=True).values_list("pk", flat=True))
    traded_days: dict[int, set[int]] = defaultdict(set)  # store → weekdays with a sale in the window
    for store_id, day in (
        StoreDaily.objects.filter(store_id__in=active, date__range=(window_start, window_end), transactions__gt=0)
        .values_list("store_id", "date")
        .distinct()
    ):
        traded_days[store_id].add(day.weekday())
    first_sale = dict(
        StoreDaily.objects.filter(store_id__in=list(traded_days), transactions__gt=0)
        .values("store_id")
        .annotate(first=Min("date"))
        .values_list("store_id", "first")
    )
    found: set[tuple[int, int]] = set()
    for store_id, weekdays in traded_days.items():
        if first_sale.get(store_id) is None or first_sale[store_id] >= window_start:
            continue  # not trading long enough to tell a closing day from not yet open
        found |= {(store_id, wd) for wd in range(7) if wd not in weekdays}
    existing = {(d.store_id, d.weekday): d for d in WeeklyClosingDay.objects.filter(store_id__in=active)}
    created = 0
    for key in sorted(found - set(existing)):
        WeeklyClosingDay.objects.create(
            store_id=key[0], weekday=key[1], detected=True, confirmed=False, detected_at=timezone.now()
        )
        created += 1
    stale = [d.pk for key, d in existing.items() if d.detected and not d.confirmed and key not in found]
    dropped, _ = WeeklyClosingDay.objects.filter(pk__in=stale).delete()
    return {"detected": created, "dropped": dropped, "stores": len(traded_days)}


@transaction.atomic
def store_closure_create(*, store: Store, day: date, reason: str = "", created_by=None) -> StoreClosure:
    """A one-off closure; refused on a day with recorded sales or one already closed."""
    errors = closure_problems(store=store, day=day)
    if errors:
        raise ValidationError(errors)
    return StoreClosure.objects.create(store=store, date=day, reason=reason, created_by=created_by)


def closure_problems(*, store: Store, day: date) -> list[str]:
    from sales.models import StoreDaily  # noqa: PLC0415 — forecasting reads sales (layering allows it)

    problems = []
    if StoreDaily.objects.filter(store=store, date=day, transactions__gt=0).exists():
        problems.append(f"{store.code} has sales recorded on {day:%d %b %Y}: it cannot have been closed that day.")
    if StoreClosure.objects.filter(store=store, date=day).exists():
        problems.append(f"{store.code} is already marked closed on {day:%d %b %Y}.")
    return problems
