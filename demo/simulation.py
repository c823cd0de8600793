"""The demo chain's simulation: stock per store × product day by day (numpy across all series at once) —
sales and baskets, prices and promotions, returns, loyalty points, shrinkage and stockouts, purchase orders
and deliveries, stock counts.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict, deque
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings

from customers.models import PointsEntry
from customers.services import point_value, points_for_amount
from inventory.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    PurchaseOrder,
    PurchaseOrderLine,
    StockCount,
    StockCountLine,
    StockMovement,
)
from sales.models import Sale, SaleLine

from .catalogue import (
    CLOSE_HOUR,
    COUNT_SECONDS,
    DELIVERY_SECONDS,
    DEMO_USERS,
    OPEN_HOUR,
    ORDER_SECONDS,
    PAYMENTS,
    PRICE_TYPES,
    REASON_LABELS,
    SEASONS,
    SUPPLIERS,
    WEEKLY,
    WRITE_OFF_SECONDS,
)

PROMO_FUTURE_DAYS = 42  # promotions are planned (recorded, not traded) this far past the last day


def _half_up_div(a: np.ndarray, b: int) -> np.ndarray:
    """Round a / b half away from zero (Decimal ROUND_HALF_UP on each sign), element-wise, in integers."""
    mag = (np.abs(a) * 2 + b) // (2 * b)
    return np.sign(a) * mag


def _season_curves(days: list[date]) -> np.ndarray:
    """Yearly demand factor per season shape and day (mean 1 over a year); 0 on Christmas Day."""
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    month = np.array([d.month for d in days])
    dom = np.array([d.day for d in days])
    w = 2 * np.pi / 365.25
    xmas_ramp = np.where(month == 12, np.clip((dom - 1) / 23.0, 0, 1) ** 2, 0.0) * (dom <= 24)
    xmas_ramp += np.where((month == 11) & (dom >= 15), 0.12, 0.0)
    jan_dip = np.where((month == 1) & (dom <= 14), 0.9, 1.0)
    curves = {
        "steady": (1 + 0.06 * np.cos(w * (doy - 344)) + 0.25 * xmas_ramp) * jan_dip,
        "summer": 1 + 0.35 * np.cos(w * (doy - 196)),
        "bbq": 0.12 + 2.2 * np.clip(np.cos(w * (doy - 200)), 0, None) ** 3,
        "winter": 1 + 0.40 * np.cos(w * (doy - 20)),
        "christmas": 0.12 + 6.0 * xmas_ramp + np.where((month == 12) & (dom > 26), 0.4, 0.0),
        "drinks": (1 + 0.18 * np.cos(w * (doy - 196)) + 0.9 * xmas_ramp) * jan_dip,
        "fresh": 1 + 0.03 * np.cos(w * (doy - 350)) + 0.15 * xmas_ramp,
    }
    # Normalise each shape to a mean of 1 over a calendar year (independent of the data window).
    year = [date(2023, 1, 1) + timedelta(days=i) for i in range(365)]
    out = np.empty((len(SEASONS), len(days)))
    if days and days != year:
        ref = _season_curves(year)
        for g in range(len(SEASONS)):
            out[g] = curves[SEASONS[g]] / ref[g].mean()
    else:
        for g in range(len(SEASONS)):
            out[g] = curves[SEASONS[g]]
    closed = (month == 12) & (dom == 25)
    out[:, closed] = 0.0
    return out


# --- the simulation -------------------------------------------------------------------------------


class _Simulation:
    """The loader's day-by-day simulation (a mixin of demo.load._Loader)."""

    # series -----------------------------------------------------------------------------------
    def series(self) -> None:
        cfg, rng, S, P = self.config, self.rng, self.S, self.P
        N = S * P
        self.N = N
        self.s_of = np.repeat(np.arange(S), P)
        self.p_of = np.tile(np.arange(P), S)
        # Popularity: a Zipf curve over products, cheaper items tending to sell more often.
        score = rng.random(P) - 0.30 * np.log(self.price_of_p)
        rank = np.empty(P, dtype=np.int64)
        rank[np.argsort(-score, kind="stable")] = np.arange(P)
        pop = 1.0 / (rank + 2.0) ** 1.15
        pop = pop / pop.sum() * (P / 100.0 if P < 100 else 1.0)
        affinity = rng.lognormal(0.0, 0.3, N)
        affinity /= affinity.mean()
        self.base = cfg.lines_per_store_day * self.store_size[self.s_of] * pop[self.p_of] * affinity
        # Units per line: geometric, larger baskets of cheap items.
        self.qp = np.clip(0.58 + 0.09 * np.log(self.price_of_p), 0.5, 0.92)
        self.mean_qty = 1.0 / self.qp
        self.mu = self.base * self.mean_qty[self.p_of]  # units per day, used by the reorder policy
        self.mu_est = self.mu.copy()
        self.weekly_table = np.array([WEEKLY[w] for w in self.weekly_of_p])  # P × 7
        self.weekly_table /= self.weekly_table.mean(axis=1, keepdims=True)
        self.curves = _season_curves(self.days)  # G × D
        growth = rng.normal(0.04, 0.05, S)
        t = np.arange(self.D)
        self.trend = np.exp(np.outer(growth, (t - (self.D - 1)) / 365.25))  # S × D, 1 on the last day
        self.store_noise = rng.lognormal(0.0, 0.12, (self.D, S))
        # Reorder policy: review on the supplier's weekdays, (s, S) levels from a demand estimate.
        lead = np.array([s[2] for s in SUPPLIERS])[self.sup_of_p]
        review = np.array([7.0 / len(s[5]) for s in SUPPLIERS])[self.sup_of_p]
        self.cover = (lead + review)[self.p_of].astype(float)
        self.z = rng.choice(np.array([0.4, 1.0, 1.6]), size=N, p=[0.2, 0.5, 0.3])
        self.case_n = self.case_of_p[self.p_of]
        self.review_days = [set(s[5]) for s in SUPPLIERS]
        # Shrinkage: events per day ∝ units sold, plus a floor for slow but tempting lines.
        self.theft_p = np.clip(self.shrink_of_p[self.p_of, 0] * self.mu + 0.0004, 0, 0.5)
        self.damage_p = np.clip(self.shrink_of_p[self.p_of, 1] * self.mu, 0, 0.5)
        self.expire_p = np.clip(self.shrink_of_p[self.p_of, 2] * self.mu, 0, 0.5)
        # Stock state.
        rop, out = self.levels()
        self.book = out.copy()
        self.phys = out.copy()
        self.on_order = np.zeros(N, dtype=np.int64)
        self.avg4 = (self.cost_c[0][self.p_of] * 100).astype(np.int64)
        self.causes = np.zeros((4, N), dtype=np.int64)  # theft, damage, expired, supplier short since last count
        self.pipeline: dict[int, list] = defaultdict(list)
        self.returns_buffer: deque = deque(maxlen=14)
        self.returned: set[int] = set()

    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        demand = self.mu_est * self.cover
        rop = np.ceil(demand + self.z * np.sqrt(demand)).astype(np.int64)
        out = rop + np.maximum(self.case_n, np.ceil(self.mu_est * 12)).astype(np.int64)
        return rop, out

    # time -------------------------------------------------------------------------------------
    def zones(self) -> None:
        tz_names = sorted({s.timezone for s in self.stores})
        self.tz_of_store = np.array([tz_names.index(s.timezone) for s in self.stores])
        self.offset = np.zeros((len(tz_names), self.D), dtype=np.int64)
        for i, name in enumerate(tz_names):
            zone = ZoneInfo(name)
            for t, d in enumerate(self.days):
                self.offset[i, t] = int(datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset().total_seconds())

    def clock(self) -> None:
        epoch0 = date(1970, 1, 1)
        self.day_epoch = np.array([(d - epoch0).days * 86400 for d in self.days], dtype=np.int64)
        self.day_text = [d.isoformat() for d in self.days]
        self.day_code = [d.strftime("%Y%m%d") for d in self.days]
        self.store_size = self.rng.lognormal(0.0, 0.35, self.config.stores)
        self.store_size /= self.store_size.mean()

    def epoch(self, s, t: int, seconds) -> np.ndarray:
        """UTC epoch seconds of local time `seconds` after midnight in store(s) s on day t."""
        return self.day_epoch[t] + seconds - self.offset[self.tz_of_store[s], t]

    # the simulation ---------------------------------------------------------------------------
    def run(self) -> None:
        self.users_ids()
        self.plan_counts()
        self.plan_promotions()
        self.plan_closures()
        self.opening()
        last_report = time.monotonic()
        for t, day in enumerate(self.days):
            closed = day.month == 12 and day.day == 25
            if day.day == 1:
                self.expire_points(t)
            if not closed:
                self.deliveries(t)
            self.counts(t)
            if not closed:
                self.trade(t)
            self.shrink(t)
            if not closed:
                self.reorder(t)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                self.log(f"  … {day} ({t + 1}/{self.D} days, {self.w_line.count + len(self.w_line.rows):,} sale lines)")
        self.draft_orders()

    def users_ids(self) -> None:
        users = getattr(self, "users", {})
        self.owner_id = users["owner"].pk if "owner" in users else None
        self.counter_of_store = {}
        for username, _pw, _role, store_index, *_ in DEMO_USERS:
            if store_index is not None and username in users and self.S:
                self.counter_of_store.setdefault(min(store_index, self.S - 1), users[username].pk)

    def opening(self) -> None:
        first = np.flatnonzero(self.book > 0)
        ids = self.take_ids(StockMovement, len(first))
        times = self.ts_values(self.epoch(self.s_of[first], 0, 6 * 3600 - 86400))
        self.move_rows(
            ids,
            first,
            self.book[first],
            "opening",
            self.avg4[first],
            "",
            [None] * len(first),
            times,
            None,
            ["Opening balance"] * len(first),
        )

    def plan_promotions(self) -> None:
        """The promotions the chain runs (and the ones planned for the coming weeks, recorded only): every two
        weeks from a Wednesday a few single products chain-wide (10–30 % off, or member price for everyone);
        every four weeks a sub-category for a week, 10–20 % off, chain-wide or in one chain's stores. Uplift:
        units × (1 + elasticity × share off), elasticity 2–4, so 20 % off sells about 40–80 % more; the week
        after a product promotion sells a little less (customers stocked up). Never two on one product and store."""
        rng, P, S = self.rng, self.P, self.S
        H = self.D + PROMO_FUTURE_DAYS
        self.promo_kind = np.zeros((H, S, P), dtype=np.int8)  # 0 none, 1 promo price, 2 DP for all
        self.promo_off = np.zeros((H, S, P), dtype=np.float32)
        self.promo_lift = np.ones((H, S, P), dtype=np.float32)
        self.promo_specs: list[dict] = []
        first_wed = (2 - self.days[0].weekday()) % 7
        k = max(1, round(0.03 * P))
        weights = np.sqrt(1.0 / np.arange(1, P + 1))[np.argsort(np.argsort(-self.mu.reshape(S, P).sum(0)))]
        weights /= weights.sum()
        for start in range(first_wed, H, 14):
            end = min(H, start + 14)
            chosen = rng.choice(P, size=min(k, P), replace=False, p=weights)
            for p in chosen:
                r = self.regime_of_day[min(start, self.D - 1)]
                has_dp = self.dp_c[r, p] < self.mrp_c[r, p]
                kind = 2 if (has_dp and rng.random() < 0.25) else 1
                member_off = 1 - self.dp_c[r, p] / self.mrp_c[r, p]
                off = float(rng.choice([0.10, 0.15, 0.20, 0.25, 0.30])) if kind == 1 else float(member_off)
                self.promo_kind[start:end, :, p] = kind
                self.promo_off[start:end, :, p] = off
                self.promo_lift[start:end, :, p] = 1.0 + rng.uniform(2.0, 4.0) * off
                self.promo_lift[end : min(H, end + 7), :, p] *= 0.9  # customers stocked up
                label = "Fortnight deal" if kind == 1 else "Member price for everyone"
                self.promo_specs.append(
                    {"name": f"{label}: {self.products[p].name}", "start": start, "end": end - 1, "stores": [],
                     "products": [int(p)], "categories": [], "percent": round(100 * off, 2)}
                )  # fmt: skip
        chains = sorted({s.chain for s in self.stores})
        for start in range(first_wed + 7, H, 28):
            end = min(H, start + 7)
            subs = rng.permutation(len(self.sub_categories))
            for sub in subs:  # the first sub-category with no product already on promotion that week
                members = np.flatnonzero(self.sub_of_p == sub)
                if len(members) and not self.promo_kind[start:end][:, :, members].any():
                    break
            else:
                continue
            if rng.random() < 0.5 or len(chains) < 2:
                where = np.arange(S)
                stores = []
            else:
                banner = chains[int(rng.integers(len(chains)))]
                where = np.array([i for i, st in enumerate(self.stores) if st.chain == banner])
                stores = where.tolist()
            off = float(rng.choice([0.10, 0.15, 0.20]))
            for p in members:
                self.promo_kind[start:end, where, p] = 1
                self.promo_off[start:end, where, p] = off
                self.promo_lift[start:end, where, p] = 1.0 + rng.uniform(2.0, 4.0) * off
            category = self.sub_categories[int(sub)]
            self.promo_specs.append(
                {"name": f"{category.name} week", "start": start, "end": end - 1, "stores": stores, "products": [],
                 "categories": [category.pk], "percent": round(100 * off, 2)}
            )  # fmt: skip
        self.promo_kind = self.promo_kind[: self.D]  # the simulation trades the history only
        self.promo_off = self.promo_off[: self.D]
        self.promo_lift = self.promo_lift[: self.D]
        self.stats["promotions"] = sum(1 for spec in self.promo_specs if spec["start"] < self.D)

    def plan_closures(self) -> None:
        """Trading factor per day × store: the last store shuts on Sundays; a few one-off refit days; public
        holidays of each store's country are short days (65 % of the trade), Christmas Day is shut everywhere."""
        from forecasting.calendar import public_holidays  # noqa: PLC0415 — the demo (top layer) reads the calendar

        rng, S, D = self.rng, self.S, self.D
        self.open_factor = np.ones((D, S))
        self.sunday_store = S - 1 if S >= 2 else None
        dows = np.array([d.weekday() for d in self.days])
        if self.sunday_store is not None:
            self.open_factor[dows == 6, self.sunday_store] = 0.0
        last = self.days[-1] + timedelta(days=PROMO_FUTURE_DAYS)
        self.holiday_days: dict[int, list[date]] = {}
        index = {d: t for t, d in enumerate(self.days)}
        for s, store in enumerate(self.stores):
            found = public_holidays(country=store.country, subdivision=store.subdivision, start=self.days[0], end=last)
            self.holiday_days[s] = sorted(found)
            for day in found:
                if day in index:
                    self.open_factor[index[day], s] *= 0.65
        for t, day in enumerate(self.days):
            if day.month == 12 and day.day == 25:
                self.open_factor[t, :] = 0.0
        # One-off refits: one store shut for a day every ~4 months, the last one 10 days before the end.
        self.refits: list[tuple[int, int]] = []
        for t in list(range(D - 10, 0, -120)):
            s = int(rng.integers(S))
            if self.open_factor[t, s] > 0:
                self.open_factor[t, s] = 0.0
                self.refits.append((t, s))

    def calendar_write(self) -> None:
        """The calendar the simulation traded by, as data: promotions, closures, weekly closing days, holidays."""
        from forecasting.models import (  # noqa: PLC0415 — the demo (top layer) writes forecasting's calendar
            HolidayOverride,
            Promotion,
            StoreClosure,
            WeeklyClosingDay,
        )

        day_of = [self.days[0] + timedelta(days=t) for t in range(self.D + PROMO_FUTURE_DAYS)]
        promos = Promotion.objects.bulk_create(
            [
                Promotion(
                    name=spec["name"][:120],
                    start=day_of[spec["start"]],
                    end=day_of[spec["end"]],
                    discount_percent=Decimal(str(spec["percent"])),
                    created_by_id=self.owner_id,
                    notes="Demo chain",
                )
                for spec in self.promo_specs
            ],
            batch_size=1000,
        )
        through_s, through_p = Promotion.stores.through, Promotion.products.through
        through_c = Promotion.categories.through
        rows_s, rows_p, rows_c = [], [], []
        for promo, spec in zip(promos, self.promo_specs, strict=True):
            rows_s += [through_s(promotion_id=promo.pk, store_id=int(self.store_ids[s])) for s in spec["stores"]]
            rows_p += [through_p(promotion_id=promo.pk, product_id=int(self.product_ids[p])) for p in spec["products"]]
            rows_c += [through_c(promotion_id=promo.pk, category_id=c) for c in spec["categories"]]
        for model, rows in ((through_s, rows_s), (through_p, rows_p), (through_c, rows_c)):
            model.objects.bulk_create(rows, batch_size=2000)
        closures = [
            StoreClosure(store_id=int(self.store_ids[s]), date=self.days[t], reason="Refit: shop floor closed")
            for t, s in self.refits
        ]
        coming = self.days[-1] + timedelta(days=12)  # a coming one, for the calendar page
        closures.append(StoreClosure(store_id=int(self.store_ids[0]), date=coming, reason="Refit: new tills"))
        StoreClosure.objects.bulk_create(closures)
        if self.sunday_store is not None:
            WeeklyClosingDay.objects.create(
                store_id=int(self.store_ids[self.sunday_store]),
                weekday=6,
                confirmed=True,
                confirmed_by_id=self.owner_id,
            )
        overrides = []
        for s in range(self.S):
            for day in self.holiday_days[s]:
                shut = day.month == 12 and day.day == 25
                kind, note = ("closed", "Christmas Day") if shut else ("short", "Open 10:00–16:00")
                overrides.append(HolidayOverride(store_id=int(self.store_ids[s]), date=day, kind=kind, note=note))
        HolidayOverride.objects.bulk_create(overrides, batch_size=2000)
        self.stats["closures"] = len(closures)

    def promo_prices(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Per store × product: the promotion kind and the promotion price (pence) on day t."""
        r = self.regime_of_day[t]
        mrp, dp, cost = self.mrp_c[r], self.dp_c[r], self.cost_c[r]
        promo = np.round(mrp * (1 - self.promo_off[t]) / 5.0).astype(np.int64) * 5 - 1
        promo = np.maximum(promo, np.maximum(1, (cost * 0.95).astype(np.int64)))
        kind = self.promo_kind[t]
        # A promo price must differ from both list and member price; otherwise there is no promotion.
        valid = (promo < mrp) & (promo != dp) & (promo > 0)
        kind = np.where((kind == 1) & ~valid, 0, kind)
        return kind, np.maximum(promo, 1)

    def deliveries(self, t: int) -> None:
        arrivals = self.pipeline.pop(t, [])
        for po_id, s, lines, line_ids, cost4 in arrivals:
            series = s * self.P + lines[:, 0]
            qty = lines[:, 1]
            gr_id = int(self.take_ids(GoodsReceipt, 1)[0])
            at = int(self.epoch(s, t, DELIVERY_SECONDS))
            when = self.ts_value(at)
            self.w_gr.add([(gr_id, po_id, when, self.counter_of_store.get(s), "")])
            grl_ids = self.take_ids(GoodsReceiptLine, len(series))
            self.w_grl.add(
                zip(
                    grl_ids.tolist(),
                    [gr_id] * len(series),
                    line_ids.tolist(),
                    qty.tolist(),
                    (cost4 / 10000).tolist(),
                    strict=True,
                )
            )
            on_hand = np.maximum(self.book[series], 0)
            new_avg = np.where(
                on_hand > 0, np.rint((on_hand * self.avg4[series] + qty * cost4) / (on_hand + qty)), cost4
            )
            self.avg4[series] = new_avg.astype(np.int64)
            ids = self.take_ids(StockMovement, len(series))
            self.move_rows(
                ids,
                series,
                qty,
                "receipt",
                cost4,
                "inventory.goodsreceiptline",
                grl_ids,
                [when] * len(series),
                None,
                [f"PO #{po_id}"] * len(series),
            )
            self.book[series] += qty
            self.on_order[series] -= qty
            # Now and then the supplier delivers less than the note says: the shelf gets fewer.
            short = (self.rng.random(len(series)) < 0.03) & (qty > 1)
            missing = np.where(short, np.minimum(qty - 1, self.rng.integers(1, 4, len(series))), 0)
            self.phys[series] += qty - missing
            self.causes[3, series] += missing

    def reorder(self, t: int) -> None:
        """Evening review: orders for suppliers whose review day it is, up to the order-up-to level."""
        dow = self.days[t].weekday()
        reviewing = np.array([dow in days for days in self.review_days])[self.sup_of_p[self.p_of]]
        if not reviewing.any():
            return
        rop, out = self.levels()
        position = self.book + self.on_order
        due = np.flatnonzero(reviewing & (position <= rop))
        if not len(due):
            return
        case = self.case_n[due]
        qty = np.ceil((out[due] - position[due]) / case).astype(np.int64) * case
        r = self.regime_of_day[t]
        sup = self.sup_of_p[self.p_of[due]]
        store = self.s_of[due]
        key = store * len(SUPPLIERS) + sup
        for k in np.unique(key):
            pick = np.flatnonzero(key == k)
            s, g = int(k // len(SUPPLIERS)), int(k % len(SUPPLIERS))
            series = due[pick]
            q = qty[pick].copy()
            products = self.p_of[series]
            cost4 = self.cost_c[r][products] * 100
            # Top up to the supplier's minimum order value with extra cases of the fastest line.
            minimum = SUPPLIERS[g][3] * 10000
            if (q * cost4).sum() < minimum:
                fastest = int(np.argmax(self.mu_est[series]))
                need = minimum - (q * cost4).sum()
                extra_cases = int(math.ceil(need / (cost4[fastest] * self.case_n[series[fastest]])))
                q[fastest] += min(extra_cases, 4) * self.case_n[series[fastest]]
            self.place_order(t, s, g, series, products, q, cost4)

    def place_order(self, t, s, g, series, products, q, cost4) -> None:
        code, _name, lead, _minimum, terms, _days = SUPPLIERS[g]
        roll = self.rng.random()
        delay = 0 if roll < 0.75 else int(self.rng.integers(1, 3)) if roll < 0.96 else int(self.rng.integers(4, 11))
        arrive = t + lead + delay
        arrival_day = self.days[0] + timedelta(days=arrive)
        if arrival_day.month == 12 and arrival_day.day == 25:
            arrive += 1  # no deliveries on Christmas Day
        po_id = int(self.take_ids(PurchaseOrder, 1)[0])
        line_ids = self.take_ids(PurchaseOrderLine, len(series))
        received = arrive < self.D
        if received:
            self.pipeline[arrive].append((po_id, s, np.column_stack([products, q]), line_ids, cost4))
        paid_day = arrive + terms
        paid = received and paid_day < self.D
        amount = int(((q * cost4).sum() + 50) // 100) if paid else 0
        ordered_at = self.ts_value(int(self.epoch(s, t, ORDER_SECONDS)))
        self.w_po.add(
            [
                (
                    po_id,
                    self.suppliers[g].pk,
                    int(self.store_ids[s]),
                    "received" if received else "ordered",
                    f"PO-{self.store_codes[s]}-{self.day_code[t]}-{code}",
                    (self.days[t] + timedelta(days=lead)).isoformat(),
                    self.owner_id,
                    ordered_at,
                    ordered_at,
                    self.owner_id,
                    self.ts_value(int(self.epoch(s, paid_day, 10 * 3600))) if paid else None,
                    amount / 100,
                )
            ]
        )
        self.w_pol.add(
            zip(
                line_ids.tolist(),
                [po_id] * len(series),
                self.product_ids[products].tolist(),
                q.tolist(),
                (q if received else np.zeros_like(q)).tolist(),
                (cost4 / 10000).tolist(),
                strict=True,
            )
        )
        self.on_order[series] += q

    def draft_orders(self) -> None:
        """Two draft orders waiting for the owner's approval on the last day."""
        t = self.D - 1
        rop, out = self.levels()
        position = self.book + self.on_order
        for s in range(min(2, self.S)):
            series = np.flatnonzero((self.s_of == s) & (position <= rop + self.case_n))[:6]
            if not len(series):
                continue
            g = int(self.sup_of_p[self.p_of[series[0]]])
            series = series[self.sup_of_p[self.p_of[series]] == g]
            products = self.p_of[series]
            q = np.maximum(
                self.case_n[series],
                np.ceil((out[series] - position[series]) / self.case_n[series]) * self.case_n[series],
            ).astype(np.int64)
            po_id = int(self.take_ids(PurchaseOrder, 1)[0])
            line_ids = self.take_ids(PurchaseOrderLine, len(series))
            cost4 = self.cost_c[self.regime_of_day[t]][products] * 100
            self.w_po.add(
                [
                    (
                        po_id,
                        self.suppliers[g].pk,
                        int(self.store_ids[s]),
                        "draft",
                        f"DRAFT-{self.store_codes[s]}-{self.day_code[t]}",
                        (self.days[t] + timedelta(days=SUPPLIERS[g][2] + 1)).isoformat(),
                        self.owner_id,
                        self.now_value,
                        None,
                        None,
                        None,
                        0.0,
                    )
                ]
            )
            self.w_pol.add(
                zip(
                    line_ids.tolist(),
                    [po_id] * len(series),
                    self.product_ids[products].tolist(),
                    q.tolist(),
                    [0] * len(series),
                    (cost4 / 10000).tolist(),
                    strict=True,
                )
            )

    def shrink(self, t: int) -> None:
        """Overnight losses: theft and damage are silent (found by counts); some expiries are written off."""
        rng = self.rng
        for cause, prob in ((0, self.theft_p), (1, self.damage_p), (2, self.expire_p)):
            hit = np.flatnonzero((rng.random(self.N) < prob) & (self.phys > 0))
            if not len(hit):
                continue
            loss = np.minimum(self.phys[hit], 1 + (rng.random(len(hit)) < 0.3))
            self.phys[hit] -= loss
            self.stats["shrink_units"] += int(loss.sum())
            if cause == 2:
                logged = rng.random(len(hit)) < 0.6
                logged_idx = hit[logged]
                if len(logged_idx):
                    ids = self.take_ids(StockMovement, len(logged_idx))
                    times = self.ts_values(self.epoch(self.s_of[logged_idx], t, WRITE_OFF_SECONDS))
                    q = loss[logged]
                    self.move_rows(
                        ids,
                        logged_idx,
                        -q,
                        "write_off",
                        self.avg4[logged_idx],
                        "",
                        [None] * len(ids),
                        times,
                        None,
                        ["Past its sell-by date"] * len(ids),
                    )
                    self.book[logged_idx] -= q
                self.causes[2, hit[~logged]] += loss[~logged]
            else:
                self.causes[cause, hit] += loss

    # sales ------------------------------------------------------------------------------------
    def trade(self, t: int) -> None:
        rng, _S, _P = self.rng, self.S, self.P
        dow = self.days[t].weekday()
        lam = (
            self.base
            * self.weekly_table[self.p_of, dow]
            * self.curves[self.season_of_p[self.p_of], t]
            * self.trend[self.s_of, t]
            * self.store_noise[t, self.s_of]
            * self.promo_lift[t].ravel()  # S × P, series s * P + p
            * self.open_factor[t, self.s_of]
        )
        k = rng.poisson(lam)
        L = int(k.sum())
        sold_units = np.zeros(self.N, dtype=np.int64)
        if L:
            ser = np.repeat(np.arange(self.N), k)
            qty = rng.geometric(self.qp[self.p_of[ser]])
            cs = np.cumsum(qty)
            before = cs - qty
            starts = np.concatenate(([0], np.cumsum(k[k > 0])[:-1]))
            before = before - np.repeat(before[starts], k[k > 0])
            sold = np.clip(self.phys[ser] - before, 0, qty)
            lost = qty - sold
            self.stats["lost_units"] += int(lost.sum())
            keep = sold > 0
            ser, qty = ser[keep], sold[keep]
            np.add.at(sold_units, ser, qty)
            if len(ser):
                self.post_receipts(t, ser, qty)
        self.phys -= sold_units
        self.book -= sold_units
        self.stats["stockout_days"] += int(((self.phys == 0) & (self.mu > 0.05)).sum())
        self.mu_est += (sold_units - self.mu_est) / 28.0
        self.mu_est = np.maximum(self.mu_est, 0.3 * self.mu)
        self.post_returns(t)

    def opening_hours(self, dow: int, n: int) -> np.ndarray:
        rng = self.rng
        if dow == 6:
            return rng.integers(10 * 3600, 16 * 3600, n)
        mix = rng.random(n)
        lunch = rng.normal(12.75 * 3600, 1.3 * 3600, n)
        evening = rng.normal(17.5 * 3600, 1.5 * 3600, n)
        flat = rng.uniform(OPEN_HOUR * 3600, CLOSE_HOUR * 3600, n)
        tod = np.where(mix < 0.38, lunch, np.where(mix < 0.78, evening, flat))
        return np.clip(tod, OPEN_HOUR * 3600, CLOSE_HOUR * 3600 - 60).astype(np.int64)

    def pick_customers(self, rec_store: np.ndarray, t: int) -> np.ndarray:
        """A loyalty customer for about a third of receipts (-1 = anonymous), mostly from the home store; a member
        not yet joined, or who has left, is not drawn (that receipt is a walk-in's)."""
        rng, n = self.rng, len(rec_store)
        if not self.C:
            return np.full(n, -1, dtype=np.int64)
        member = rng.random(n) < self.config.member_share
        away = rng.random(n) < 0.08
        u = rng.random(n)
        # Home store: one sorted table of cumulative weights, store s owning the interval (s, s + 1].
        pos = np.searchsorted(self.cust_cdf, rec_store + u, side="right")
        pos = np.minimum(pos, self.C - 1)
        home = self.cust_sorted[pos]
        home_ok = self.cust_home_sorted[pos] == rec_store
        anywhere = self.cust_sorted[np.minimum(np.searchsorted(self.cust_cdf_all, u, side="right"), self.C - 1)]
        cust = np.where(away, anywhere, np.where(home_ok, home, -1))
        cust = np.where(member, cust, -1)
        who = np.maximum(cust, 0)
        member_now = (self.customer_joined_day[who] <= t) & (t < self.customer_left_day[who])
        return np.where(member_now, cust, -1)

    def post_receipts(self, t: int, ser: np.ndarray, qty: np.ndarray) -> None:
        rng, _P = self.rng, self.P
        st = self.s_of[ser]
        per_store = np.bincount(st, minlength=self.S)
        R = np.maximum(1, np.rint(per_store / self.config.basket_lines)).astype(np.int64)
        width = int(R.max()) + 1
        key = st * width + (rng.random(len(ser)) * R[st]).astype(np.int64)
        uk, rid = np.unique(key, return_inverse=True)
        n = len(uk)
        rec_store = uk // width
        dow = self.days[t].weekday()
        tod = self.opening_hours(dow, n)
        order = np.lexsort((tod, rec_store))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        rid = rank[rid]
        rec_store, tod = rec_store[order], tod[order]
        p = self.p_of[ser]
        lo = np.lexsort((p, rid))
        ser, qty, rid, p = ser[lo], qty[lo], rid[lo], p[lo]
        starts = np.searchsorted(rid, np.arange(n))
        line_no = np.arange(len(ser)) - starts[rid] + 1

        cust = self.pick_customers(rec_store, t)
        member = cust[rid] >= 0
        r = self.regime_of_day[t]
        mrp, dp = self.mrp_c[r][p], self.dp_c[r][p]
        kind, promo = self.promo_prices(t)
        line_store = self.s_of[ser]
        pk, promo = kind[line_store, p], promo[line_store, p]
        use_dp = member & (rng.random(len(ser)) < 0.85) & (dp < mrp)
        price = np.where(use_dp, dp, mrp)
        ptype = np.where(use_dp, 1, 0)
        dp_all = (pk == 2) & (dp < mrp)
        price = np.where(dp_all, dp, price)
        ptype = np.where(dp_all, 1, ptype)
        promo_line = (pk == 1) & ~(use_dp & (dp < promo))
        price = np.where(promo_line, promo, price)
        ptype = np.where(promo_line, 2, ptype)
        cost4 = self.avg4[ser]
        total = price * qty
        discount = np.maximum(mrp - price, 0) * qty
        cost = _half_up_div(qty * cost4, 100)
        rec_total = np.bincount(rid, weights=total, minlength=n).round().astype(np.int64)
        rec_disc = np.bincount(rid, weights=discount, minlength=n).round().astype(np.int64)
        rec_cost = np.bincount(rid, weights=cost, minlength=n).round().astype(np.int64)

        # Receipt numbers run per store and day, in time order.
        seq = np.arange(n) - np.searchsorted(rec_store, rec_store) + 1
        code = self.day_code[t]
        refs = [f"{self.store_codes[s]}-{code}-{q:04d}" for s, q in zip(rec_store.tolist(), seq.tolist(), strict=True)]
        epochs = self.epoch(rec_store, t, tod)
        times = self.ts_values(epochs)
        pay_names = [name for name, _ in PAYMENTS]
        pay = np.array(pay_names, dtype=object)[rng.choice(len(PAYMENTS), size=n, p=[w for _, w in PAYMENTS])]
        sale_ids = self.take_ids(Sale, n)
        earned = np.zeros(n, dtype=np.int64)
        redeemed = np.zeros(n, dtype=np.int64)
        self.points_for_receipts(t, sale_ids, rec_store, cust, rec_total, epochs, times, earned, redeemed, pay)
        day = self.day_text[t]
        self.w_sale.add(
            zip(
                sale_ids.tolist(),
                self.store_ids[rec_store].tolist(),
                refs,
                times,
                [day] * n,
                [int(self.customer_ids[c]) if c >= 0 else None for c in cust.tolist()],
                ["sale"] * n,
                [None] * n,
                pay.tolist(),
                (rec_total / 100).tolist(),
                (rec_disc / 100).tolist(),
                (rec_cost / 100).tolist(),
                earned.tolist(),
                redeemed.tolist(),
                [hashlib.sha256(ref.encode()).hexdigest() for ref in refs],
                times,
                strict=True,
            )
        )
        line_ids = self.take_ids(SaleLine, len(ser))
        sale_of_line = sale_ids[rid]
        self.w_line.add(
            zip(
                line_ids.tolist(),
                sale_of_line.tolist(),
                line_no.tolist(),
                self.product_ids[p].tolist(),
                qty.tolist(),
                (mrp / 100).tolist(),
                (price / 100).tolist(),
                PRICE_TYPES[ptype].tolist(),
                (discount / 100).tolist(),
                (cost4 / 10000).tolist(),
                (total / 100).tolist(),
                strict=True,
            )
        )
        rid_list = rid.tolist()
        move_ids = self.take_ids(StockMovement, len(ser))
        self.move_rows(
            move_ids,
            ser,
            -qty,
            "sale",
            cost4,
            "sales.saleline",
            line_ids,
            [times[i] for i in rid_list],
            None,
            [f"POS {refs[i]}" for i in rid_list],
        )
        self.returns_buffer.append((line_ids, sale_of_line, ser, qty, price, ptype, cust[rid], pay[rid], t))
        self.receipts_today = n

    def points_for_receipts(self, t, sale_ids, rec_store, cust, rec_total, epochs, times, earned, redeemed, pay):
        """Earn (and now and then redeem) points for member receipts, in time order."""
        idx = np.flatnonzero(cust >= 0)
        if not len(idx):
            return
        idx = idx[np.argsort(epochs[idx], kind="stable")]
        value = point_value()
        month = self.month_index(t)
        roll = self.rng.random(len(idx))
        rows = []
        expires = self.ts_values(epochs[idx] + settings.RETAILOPS["POINTS_EXPIRY_DAYS"] * 86400)
        for j, i in enumerate(idx.tolist()):
            c = int(cust[i])
            tier = self.tiers[int(self.customer_tier[c])]
            total = int(rec_total[i])
            redeem = 0
            if self.balance[c] >= 200 and roll[j] < 0.25:
                redeem = int(min(self.balance[c], int(Decimal(total) / 100 / value)) // 100 * 100)
            if redeem:
                entry = int(self.take_ids(PointsEntry, 1)[0])
                rows.append(
                    (
                        entry,
                        int(self.customer_ids[c]),
                        "redeem",
                        -redeem,
                        int(self.store_ids[rec_store[i]]),
                        "sales.sale",
                        int(sale_ids[i]),
                        times[i],
                        None,
                        "",
                    )
                )
                self.balance[c] -= redeem
                self.used[c] += redeem
                redeemed[i] = redeem
                paid = Decimal(total).scaleb(-2) - (Decimal(redeem) * value).quantize(Decimal("0.01"))
                if paid <= 0:
                    pay[i] = "voucher"
            else:
                paid = Decimal(total).scaleb(-2)
            points = points_for_amount(amount=paid, tier=tier)
            if points:
                entry = int(self.take_ids(PointsEntry, 1)[0])
                rows.append(
                    (
                        entry,
                        int(self.customer_ids[c]),
                        "earn",
                        points,
                        int(self.store_ids[rec_store[i]]),
                        "sales.sale",
                        int(sale_ids[i]),
                        times[i],
                        expires[j],
                        "",
                    )
                )
                self.balance[c] += points
                self.earned_by_month[c, month] += points
                earned[i] = points
        self.w_points.add(rows)

    def month_index(self, t: int) -> int:
        d0, d = self.days[0], self.days[t]
        return (d.year - d0.year) * 12 + d.month - d0.month

    def expire_points(self, t: int) -> None:
        """On the 1st, points earned 13+ months ago and not used since are expired (oldest first)."""
        if not self.C:
            return
        m = self.month_index(t) - 13
        if m < 0:
            return
        old = self.earned_by_month[:, : m + 1].sum(axis=1)
        expire = np.minimum(np.maximum(old - self.used, 0), self.balance)
        who = np.flatnonzero(expire > 0)
        if not len(who):
            return
        ids = self.take_ids(PointsEntry, len(who))
        when = self.ts_value(int(self.day_epoch[t] + 2 * 3600))
        self.w_points.add(
            zip(
                ids.tolist(),
                self.customer_ids[who].tolist(),
                ["expire"] * len(who),
                (-expire[who]).tolist(),
                [None] * len(who),
                [""] * len(who),
                [None] * len(who),
                [when] * len(who),
                [None] * len(who),
                ["Points older than twelve months expired"] * len(who),
                strict=True,
            )
        )
        self.balance[who] -= expire[who]
        self.used[who] += expire[who]

    def post_returns(self, t: int) -> None:
        """About 1.5 % of receipts are returns of one line bought in the last two weeks, same store."""
        n_today = getattr(self, "receipts_today", 0)
        self.receipts_today = 0
        past = [b for b in self.returns_buffer if b[-1] < t]
        if not past or not n_today:
            return
        rng = self.rng
        n = int(rng.binomial(n_today, self.config.return_rate))
        if not n:
            return
        sizes = [len(b[0]) for b in past]
        total = sum(sizes)
        picks = np.unique(rng.integers(0, total, n))
        bounds = np.cumsum([0] + sizes)
        r = self.regime_of_day[t]
        rows_sale, rows_line, made = [], [], []
        for pick in picks.tolist():
            b = int(np.searchsorted(bounds, pick, side="right") - 1)
            j = pick - bounds[b]
            line_ids, sale_of_line, ser_a, qty_a, price_a, ptype_a, cust_a, pay_a, _day = past[b]
            line_id = int(line_ids[j])
            if line_id in self.returned:
                continue
            ser = int(ser_a[j])
            s, p = int(self.s_of[ser]), int(self.p_of[ser])
            if self.open_factor[t, s] == 0:
                continue  # the store is shut today: no returns either
            self.returned.add(line_id)
            q = -int(rng.integers(1, int(qty_a[j]) + 1))
            price = int(price_a[j])
            mrp = int(self.mrp_c[r, p])
            cost4 = int(self.avg4[ser])
            total_c = price * q
            disc = max(mrp - price, 0) * q
            cost = int(_half_up_div(np.array([q * cost4]), 100)[0])
            made.append(
                (
                    s,
                    ser,
                    q,
                    price,
                    mrp,
                    int(ptype_a[j]),
                    cost4,
                    total_c,
                    disc,
                    cost,
                    int(cust_a[j]),
                    pay_a[j],
                    int(sale_of_line[j]),
                )
            )
        if not made:
            return
        sale_ids = self.take_ids(Sale, len(made))
        line_ids_new = self.take_ids(SaleLine, len(made))
        move_ids = self.take_ids(StockMovement, len(made))
        stores = np.array([m[0] for m in made])
        tod = np.sort(self.opening_hours(self.days[t].weekday(), len(made)))
        times = self.ts_values(self.epoch(stores, t, tod))
        seq: dict[int, int] = defaultdict(int)
        refs = []
        for s in stores.tolist():
            seq[s] += 1
            refs.append(f"{self.store_codes[s]}-{self.day_code[t]}-R{seq[s]:03d}")
        for i, (s, ser, q, price, mrp, ptype, cost4, total_c, disc, cost, c, pay, original) in enumerate(made):
            rows_sale.append(
                (
                    int(sale_ids[i]),
                    int(self.store_ids[s]),
                    refs[i],
                    times[i],
                    self.day_text[t],
                    int(self.customer_ids[c]) if c >= 0 else None,
                    "return",
                    original,
                    pay,
                    total_c / 100,
                    disc / 100,
                    cost / 100,
                    0,
                    0,
                    hashlib.sha256(refs[i].encode()).hexdigest(),
                    times[i],
                )
            )
            rows_line.append(
                (
                    int(line_ids_new[i]),
                    int(sale_ids[i]),
                    1,
                    int(self.product_ids[self.p_of[ser]]),
                    q,
                    mrp / 100,
                    price / 100,
                    PRICE_TYPES[ptype],
                    disc / 100,
                    cost4 / 10000,
                    total_c / 100,
                )
            )
        self.w_sale.add(rows_sale)
        self.w_line.add(rows_line)
        series = np.array([m[1] for m in made])
        qty = np.array([-m[2] for m in made], dtype=np.int64)
        self.move_rows(
            move_ids,
            series,
            qty,
            "return",
            np.array([m[6] for m in made]),
            "sales.saleline",
            line_ids_new,
            times,
            None,
            [f"POS {ref}" for ref in refs],
        )
        np.add.at(self.book, series, qty)
        np.add.at(self.phys, series, qty)
        self.stats["returns"] += len(made)

    # stock counts -----------------------------------------------------------------------------
    def plan_counts(self) -> None:
        """Twice-yearly whole-store counts with a Drinks spot check between them, all reconciled; the last
        days leave a few counts submitted and waiting for the owner, and one open count in the first store."""
        D, S = self.D, self.S
        self.count_plan: dict[int, list] = defaultdict(list)
        horizon = D - 10
        for s in range(S):
            offset = 20 + (s * 13) % 70
            for t0 in range(offset, horizon, 182):
                self.count_plan[self.open_day(t0)].append((s, "reconciled", "store"))
                if t0 + 91 < horizon:
                    self.count_plan[self.open_day(t0 + 91)].append((s, "reconciled", "Drinks"))
        waiting = [s for s in (1, 3, 6) if s < S] or ([0] if S == 1 else [])
        for i, s in enumerate(waiting):
            self.count_plan[self.open_day(D - 2 - (i % 2), back=True)].append((s, "submitted", "store"))
        if S:
            self.count_plan[self.open_day(D - 1, back=True)].append((0, "open", "store"))

    def open_day(self, t: int, back: bool = False) -> int:
        while 0 <= t < self.D and self.days[t].month == 12 and self.days[t].day == 25:
            t += -1 if back else 1
        return max(0, min(t, self.D - 1))

    def counts(self, t: int) -> None:
        for s, status, scope in self.count_plan.get(t, []):
            self.count_store(t, s, status, scope)

    def count_store(self, t: int, s: int, status: str, scope: str) -> None:
        rng = self.rng
        products = np.arange(self.P)
        category_id = None
        if scope != "store":
            products = np.array([p for p in range(self.P) if self.top_of_p[p] == scope], dtype=np.int64)
            if not len(products):
                return
            category_id = self.top_category[scope].pk
        series = s * self.P + products
        n = len(series)
        counter = self.counter_of_store.get(s, self.owner_id)
        count_id = int(self.take_ids(StockCount, 1)[0])
        t0 = int(self.epoch(s, t, COUNT_SECONDS))
        created = self.ts_value(t0 - 900)
        counted_epochs = t0 + np.arange(n) * 20  # one shelf every 20 seconds, before the doors open
        counted_at = self.ts_values(counted_epochs)
        # What is on the shelf, with the odd miscount.
        slip = rng.random(n) < 0.02
        counted = np.maximum(self.phys[series] + np.where(slip, rng.choice([-1, 1], n), 0), 0)
        expected = self.book[series]
        variance = counted - expected
        cost4 = np.where(self.avg4[series] > 0, self.avg4[series], self.cost_c[self.regime_of_day[t]][products] * 100)
        value = _half_up_div(variance * cost4, 100)  # cents
        recount = (np.abs(variance) > 5) | (np.abs(value) > 5000)
        first_count = np.where(recount, counted + np.where(rng.random(n) < 0.5, 1, 0), 0)
        reasons = self.reasons(series, variance, slip)
        ids = self.take_ids(StockCountLine, n)
        pids = self.product_ids[products].tolist()
        if status == "open":
            done = rng.random(n) < 0.4
            self.w_cline.add(
                zip(
                    ids.tolist(),
                    [count_id] * n,
                    pids,
                    np.where(done, counted, 0).tolist(),
                    [a if d else None for a, d in zip(counted_at, done.tolist(), strict=True)],
                    [counter if d else None for d in done.tolist()],
                    [None] * n,
                    [0.0] * n,
                    [None] * n,
                    [None] * n,
                    [False] * n,
                    [None] * n,
                    [""] * n,
                    [""] * n,
                    strict=True,
                )
            )
            self.w_count.add(
                [
                    (
                        count_id,
                        int(self.store_ids[s]),
                        scope if scope == "store" else "category",
                        category_id,
                        "open",
                        "Monthly shelf count",
                        counter,
                        created,
                        None,
                        None,
                        None,
                        None,
                    )
                ]
            )
            return
        reconciled = status == "reconciled"
        if not reconciled:
            reasons = [r if (i % 2 == 0) else "" for i, r in enumerate(reasons)]
        self.w_cline.add(
            zip(
                ids.tolist(),
                [count_id] * n,
                pids,
                counted.tolist(),
                counted_at,
                [counter] * n,
                expected.tolist(),
                (cost4 / 10000).tolist(),
                variance.tolist(),
                (value / 100).tolist(),
                recount.tolist(),
                [int(f) if r else None for f, r in zip(first_count.tolist(), recount.tolist(), strict=True)],
                reasons,
                [""] * n,
                strict=True,
            )
        )
        submitted = self.ts_value(t0 + n * 20 + 1200)
        approved = self.ts_value(int(self.epoch(s, min(t + 1, self.D - 1), 10 * 3600))) if reconciled else None
        self.w_count.add(
            [
                (
                    count_id,
                    int(self.store_ids[s]),
                    "store" if scope == "store" else "category",
                    category_id,
                    status,
                    "" if scope == "store" else f"{scope} spot check",
                    counter,
                    created,
                    counter,
                    submitted,
                    self.owner_id if reconciled else None,
                    approved,
                )
            ]
        )
        if reconciled:
            moved = np.flatnonzero(variance != 0)
            if len(moved):
                move_ids = self.take_ids(StockMovement, len(moved))
                self.move_rows(
                    move_ids,
                    series[moved],
                    variance[moved],
                    "count",
                    cost4[moved],
                    "inventory.stockcountline",
                    ids[moved],
                    [counted_at[i] for i in moved.tolist()],
                    self.owner_id,
                    [f"Count #{count_id}: {REASON_LABELS.get(reasons[i], reasons[i])}" for i in moved.tolist()],
                )
                self.book[series[moved]] += variance[moved]
            self.causes[:, series] = 0

    def reasons(self, series: np.ndarray, variance: np.ndarray, slip: np.ndarray) -> list[str]:
        causes = self.causes[:, series]
        names = np.array(["theft", "damage", "expired", "supplier_short"], dtype=object)
        main = names[np.argmax(causes, axis=0)]
        some = causes.sum(axis=0) > 0
        out = []
        for v, m, known, sl in zip(variance.tolist(), main.tolist(), some.tolist(), slip.tolist(), strict=True):
            if v == 0:
                out.append("")
            elif v > 0:
                out.append("data_entry" if sl else "found")
            elif known and not sl:
                out.append(m)
            else:
                out.append("pos_misscan" if sl else "unknown")
        return out
