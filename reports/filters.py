"""Filters of the dashboards and the export pack: period, stores, chain and category, read from the query string.

Bad input never raises a 500 and never widens what a user sees: a reversed range is swapped, an empty
or unreadable one falls back to the default, a range longer than MAX_DAYS is capped, each with a notice
for the page. A store id the user may not see (or that does not exist) is a 404, the house rule for
another store's object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.http import Http404
from django.utils import timezone

from inventory.models import Category, Store
from inventory.selectors import stores_visible
from retailops.filtersets import IsoDateFilter, ModelIdFilter, QueryParamsFilterSet, StrippedChoiceFilter, ValuesFilter
from retailops.money import currency_notices

MAX_DAYS = 731  # two years: enough for "this year vs last year", bounded for the rollup queries
PERIODS = {
    "today": "Today",
    "week": "This week",
    "month": "This month",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "year": "Year to date",
    "custom": "Custom range",
}


def shift_year(day: date, years: int = -1) -> date:
    """The same calendar day `years` away; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def period_range(period: str, today: date) -> tuple[date, date]:
    if period == "today":
        return today, today
    if period == "week":
        return today - timedelta(days=today.weekday()), today
    if period == "30d":
        return today - timedelta(days=29), today
    if period == "90d":
        return today - timedelta(days=89), today
    if period == "year":
        return today.replace(month=1, day=1), today
    return today.replace(day=1), today  # month


@dataclass
class Filters:
    period: str
    start: date
    end: date
    stores: list[Store]
    chain: str = ""
    category: Category | None = None
    category_ids: list[int] | None = None
    store_param: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    all_stores: list[Store] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    # The moment the figures are read, and its day: "today so far" is compared with the same hours of the
    # comparison day (reports.selectors.comparison_cut).
    now: datetime | None = None
    today: date | None = None

    @property
    def store_ids(self) -> list[int]:
        return [s.pk for s in self.stores]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.period != "custom":
            return PERIODS[self.period]
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def compare_day(self, day: date) -> date:
        """The day `day` is compared with: today and this week with the same weekday 52 weeks ago, longer
        periods with the same calendar day a year before."""
        if self.period in {"today", "week"}:
            return day - timedelta(days=364)
        return shift_year(day)

    @property
    def compare_start(self) -> date:
        return self.compare_day(self.start)

    @property
    def compare_end(self) -> date:
        return self.compare_day(self.end)

    def query(self, **override) -> str:
        """The canonical query string of these filters (what a reload or a partial poll repeats)."""
        params: list[tuple[str, str]] = [("period", self.period)]
        if self.period == "custom":
            params += [("start", self.start.isoformat()), ("end", self.end.isoformat())]
        params += [("store", s) for s in self.store_param]
        if self.chain:
            params.append(("chain", self.chain))
        if self.category:
            params.append(("category", str(self.category.pk)))
        for key, value in override.items():
            params = [(k, v) for k, v in params if k != key] + ([(key, str(value))] if value not in (None, "") else [])
        return urlencode(params)

    @property
    def querystring(self) -> str:
        return self.query()

    @property
    def selected_store(self) -> str:
        return self.store_param[0] if len(self.store_param) == 1 else ""


class DashboardFilter(QueryParamsFilterSet):
    """The dashboards' and the export pack's query string: ?period, start, end, store (repeated), chain, category.

    Its form reads each parameter; parse_filters decides what a value that does not validate means (a default and
    a notice) and which stores the user may see."""

    period = StrippedChoiceFilter(choices=list(PERIODS.items()), label="Period", empty_label=None)
    start = IsoDateFilter(label="From")
    end = IsoDateFilter(label="To")
    store = ValuesFilter(label="Stores")
    chain = StrippedChoiceFilter(choices=(), label="Chain", empty_label=None)
    category = ModelIdFilter(queryset=Category.objects.all(), label="Category")

    class Meta:
        model = Store
        fields: list[str] = []

    def __init__(self, data=None, *args, chains: list[str] | tuple[str, ...] = (), **kwargs):
        super().__init__(data, *args, **kwargs)
        self.filters["chain"].extra["choices"] = [(c, c) for c in chains]  # the chains of the user's stores


def parse_filters(
    *, user, params, default_period: str = "month", today: date | None = None, now: datetime | None = None
) -> Filters:
    """Read the filters from a QueryDict (through DashboardFilter); restrict stores to what the user may see
    (else Http404).

    `now` (default: the present moment) and `today` (default: its local day) are when the figures are read."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    notices: list[str] = []
    visible = list(stores_visible(user=user).order_by("code"))
    by_id = {s.pk: s for s in visible}
    chains = sorted({s.chain for s in visible if s.chain})
    query = DashboardFilter(params, chains=chains)

    period = query.cleaned("period", "")
    written_period = query.raw("period").strip()
    start_raw, end_raw = query.raw("start"), query.raw("end")
    if not period:
        if written_period:
            notices.append(f"Unknown period “{written_period[:20]}”: showing {PERIODS[default_period].lower()}.")
        period = "custom" if (start_raw or end_raw) and not written_period else default_period
    if period == "custom":
        start, end = query.cleaned("start"), query.cleaned("end")
        if (start_raw and not start) or (end_raw and not end):
            notices.append("A date could not be read (use YYYY-MM-DD).")
        if start is None and end is None:
            notices.append(f"The date range was empty: showing {PERIODS[default_period].lower()}.")
            period = default_period
            start, end = period_range(period, today)
        else:
            start = start or end
            end = end or start
            if start > end:
                start, end = end, start
                notices.append("The start date was after the end date: the two were swapped.")
            if (end - start).days + 1 > MAX_DAYS:
                start = end - timedelta(days=MAX_DAYS - 1)
                notices.append(f"Ranges are limited to {MAX_DAYS} days: showing {start:%d %b %Y} – {end:%d %b %Y}.")
    else:
        start, end = period_range(period, today)

    store_param = query.cleaned("store", [])
    stores = visible
    if store_param:
        wanted = []
        for value in store_param:
            if not (value.isascii() and value.isdigit()):  # "²" is a digit that int() cannot read
                notices.append(f"“{value[:20]}” is not a store: showing all your stores.")
                continue
            store = by_id.get(int(value))
            if store is None:
                raise Http404("No such store among the stores you can see.")
            wanted.append(store)
        store_param = [str(s.pk) for s in wanted]
        stores = wanted or visible

    chain = query.cleaned("chain", "")
    if chain:
        stores = [s for s in stores if s.chain == chain]
        if not stores:
            notices.append(f"None of the chosen stores trades as {chain}.")
    elif written_chain := query.raw("chain").strip():
        notices.append(f"No chain “{written_chain[:40]}” among your stores: showing all chains.")

    notices += currency_notices(stores)

    category = query.cleaned("category")
    category_ids = None
    if category is not None:
        category_ids = [category.pk, *Category.objects.filter(parent=category).values_list("pk", flat=True)]
    elif query.raw("category").strip():
        notices.append("That category does not exist: showing every category.")

    return Filters(
        period=period,
        start=start,
        end=end,
        stores=stores,
        chain=chain,
        category=category,
        category_ids=category_ids,
        store_param=store_param,
        notices=notices,
        all_stores=visible,
        chains=chains,
        now=now,
        today=today,
    )
