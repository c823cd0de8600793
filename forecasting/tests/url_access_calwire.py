"""Expected access to a promotion's expected-uplift partial (issue 18 §4; see retailops.testing)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from forecasting.models import Promotion
from inventory.tests.factories import ProductFactory
from retailops.testing import Access


def build(world):
    if "promo_own" in world.obj:
        return
    product = ProductFactory(sku="PROMO-1", name="Promoted jam")
    start = timezone.localdate() + timedelta(days=7)
    for key, store in (("promo_own", world.store_own), ("promo_other", world.store_other)):
        promo = Promotion.objects.create(
            name=f"Jam week {store.code}", start=start, end=start + timedelta(days=6), discount_percent=Decimal("20")
        )
        promo.stores.set([store])
        promo.products.set([product])
        world.obj[key] = promo


URL_ACCESS = {
    "forecasting:promotion_uplift": Access(
        kwargs=lambda w: {"pk": w.obj["promo_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["promo_other"].pk},
        staff_other=404,
        must_contain={"owner": ["Expected uplift"], "staff": ["Expected uplift"]},
    ),
}
