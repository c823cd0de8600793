"""A till for the demo chain: today's receipts so far, then one now and then, through the real services.

The demo's history ends yesterday, so without this "today" would read £0.00 and nothing would move on
the live dashboards. `manage.py demo_till` (started by `make run`) posts receipts with sale_record — the
same service as a POS device — so stock, points and rollups move exactly as they would in a shop. It
acts only on a database loaded by seed_demo (its POS device user exists) and never on anything else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Customer
from forecasting.calendar import closed_store_ids
from inventory.models import Product, StockLevel, Store
from sales.models import Sale
from sales.services import LineInput, ReceiptInput, sale_record

from .catalogue import CLOSE_HOUR, OPEN_HOUR, POS_USERNAME, pos_username

LONDON = ZoneInfo("Europe/London")
RECEIPTS_PER_STORE_HOUR = 1.0  # about the demo history's pace (≈13 receipts a store and day)
PAYMENTS = ("card", "card", "card", "cash", "mobile")


def demo_till_ready() -> bool:
    """True on a database loaded by seed_demo (its POS device users exist)."""
    return get_user_model().objects.filter(username__startswith=f"{POS_USERNAME}-").exists()


@dataclass
class _Till:
    """What every receipt draws from, read once per batch: the open stores that have a POS device, customer ids,
    and each store's device (the user a store's receipts are posted as: it may post to its own store only)."""

    stores: list[Store]
    customer_ids: list[int]
    devices: dict[int, object]

    @classmethod
    def load(cls, day: date) -> _Till:
        shut = closed_store_ids(day)  # the calendar's closed days: a shut shop rings nothing up
        stores = [s for s in Store.objects.filter(active=True).order_by("code") if s.pk not in shut]
        users = get_user_model().objects.in_bulk([pos_username(s) for s in stores], field_name="username")
        devices = {s.pk: users[pos_username(s)] for s in stores if pos_username(s) in users}
        return cls(
            stores=[s for s in stores if s.pk in devices],
            # members still shopping (a sale in the last 120 days): a member who has left does not come back
            customer_ids=list(
                Customer.objects.filter(sales__local_date__gte=day - timedelta(days=120))
                .distinct()
                .order_by("pk")
                .values_list("pk", flat=True)[:500]
            )
            or list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:500]),
            devices=devices,
        )


def _receipt(rng: random.Random, till: _Till, *, when: datetime, reference: str) -> ReceiptInput | None:
    """One to three products a store has on the shelf; a loyalty customer about a third of the time."""
    store = rng.choice(till.stores)
    on_shelf = list(
        StockLevel.objects.filter(store=store, on_hand__gte=2, product__active=True, product__kind=Product.Kind.GOODS)
        .select_related("product")
        .order_by("product_id")[:200]
    )
    if not on_shelf:
        return None
    customer = None
    if till.customer_ids and rng.random() < 0.33:
        customer = Customer.objects.get(pk=rng.choice(till.customer_ids))
    lines = []
    for level in rng.sample(on_shelf, k=min(len(on_shelf), rng.choice((1, 1, 2, 3)))):
        product = level.product
        price = product.dp if customer is not None and product.dp else product.mrp
        lines.append(LineInput(product=product, quantity=Decimal(1), unit_price=price))
    return ReceiptInput(
        store=store,
        pos_reference=reference,
        occurred_at=when,
        lines=lines,
        payment_method=rng.choice(PAYMENTS),
        customer=customer,
    )


def _post(rng: random.Random, till: _Till, *, when: datetime, n: int) -> Sale | None:
    if not till.stores:
        return None
    reference = f"TILL-{when.astimezone(LONDON):%Y%m%d-%H%M%S}-{n}"
    receipt = _receipt(rng, till, when=when, reference=reference)
    return sale_record(receipt=receipt, actor=till.devices[receipt.store.pk]).sale if receipt is not None else None


def demo_till_backfill(*, now: datetime | None = None, seed: int = 7) -> int:
    """Today's receipts from opening time until now, at the demo's pace — once a day: nothing if today
    already has a sale. Returns how many were posted."""
    now = now or timezone.now()
    local_now = now.astimezone(LONDON)
    today = local_now.date()
    if Sale.objects.filter(local_date=today).exists():
        return 0
    opening = datetime.combine(today, time(OPEN_HOUR), tzinfo=LONDON)
    closing = min(local_now, datetime.combine(today, time(CLOSE_HOUR), tzinfo=LONDON))
    if closing <= opening:
        return 0
    hours = (closing - opening).total_seconds() / 3600
    count = round(hours * RECEIPTS_PER_STORE_HOUR * Store.objects.filter(active=True).count())
    rng = random.Random(f"{seed}-{today}")
    span = (closing - opening).total_seconds()
    times = sorted(opening + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    till = _Till.load(today)
    return sum(1 for n, when in enumerate(times) if _post(rng, till, when=when, n=n) is not None)


def demo_till_tick(*, rng: random.Random, now: datetime | None = None) -> Sale | None:
    """One receipt now (a customer at one of the tills)."""
    now = now or timezone.now()
    return _post(rng, _Till.load(now.astimezone(LONDON).date()), when=now, n=rng.randrange(10**6))
