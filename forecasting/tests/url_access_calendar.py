"""Expected access to the retail calendar page, its forms and its API (issue 18 §1; see retailops.testing).
Staff read their stores' calendar (never another store's own promotion or closure); accountants read; owners
write."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from forecasting.models import Promotion, StoreClosure, WeeklyClosingDay
from inventory.tests.factories import ProductFactory
from retailops.testing import UNAUTH, Access


def build(world):
    if "cal_closure_own" in world.obj:
        return
    product = ProductFactory(sku="CAL-1", name="Calendar biscuits")
    start = timezone.localdate() + timedelta(days=30)
    for suffix, store in (("own", world.store_own), ("other", world.store_other)):
        promo = Promotion.objects.create(
            name=f"Biscuit days {store.code}",
            start=start,
            end=start + timedelta(days=3),
            discount_percent=Decimal("15"),
        )
        promo.stores.set([store])
        promo.products.set([product])
        world.obj[f"cal_promo_{suffix}"] = promo
        world.obj[f"cal_closure_{suffix}"] = StoreClosure.objects.create(store=store, date=start, reason="Refit")
        world.obj[f"cal_weekly_{suffix}"] = WeeklyClosingDay.objects.create(store=store, weekday=6, detected=True)


OWNER_POST = {"method": "post", "staff": 403, "accountant": 403}
API = {"anon": UNAUTH}

URL_ACCESS = {
    "forecasting:calendar": Access(
        must_contain={"owner": ["Add a promotion", "Import a calendar file"], "staff": ["Retail calendar"]},
        must_not_contain={"staff": ["Add a promotion", "Biscuit days OTH"], "accountant": ["Add a promotion"]},
    ),
    "forecasting:promotion_add": Access(**OWNER_POST, owner=400, data={}),  # an empty form: refused, named
    "forecasting:calendar_import": Access(**OWNER_POST, owner=400, data={}),
    "forecasting:closing_day_confirm": Access(
        **OWNER_POST,
        owner=302,
        kwargs=lambda w: {"pk": w.obj["cal_weekly_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["cal_weekly_other"].pk},
        staff_other=403,  # staff may not confirm at all
    ),
    "api:promotion-list": Access(**API),
    "api:promotion-detail": Access(
        **API,
        kwargs=lambda w: {"pk": w.obj["cal_promo_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["cal_promo_other"].pk},
        staff_other=404,
    ),
    "api:storeclosure-list": Access(**API),
    "api:storeclosure-detail": Access(
        **API,
        kwargs=lambda w: {"pk": w.obj["cal_closure_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["cal_closure_other"].pk},
        staff_other=404,
    ),
}
