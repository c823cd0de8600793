"""Expected access to the sales URLs of the ingestion area: imports, receipts and the sales API."""

from decimal import Decimal

from inventory.tests.factories import ProductFactory
from retailops.testing import Access
from sales.models import ImportBatch
from sales.tests.factories import post_sale


def build(world):
    product = ProductFactory(sku="IMP-MX", name="Import matrix mug", mrp=Decimal("5.00"), dp=Decimal("4.00"))
    world.obj["sale_own"] = post_sale(store=world.store_own, lines=[(product, 1, None)], ref="MX-OWN-1")
    world.obj["sale_other"] = post_sale(store=world.store_other, lines=[(product, 2, None)], ref="MX-OTHER-1")
    world.obj["batch"] = ImportBatch.objects.create(
        source_name="matrix.csv", status=ImportBatch.Status.DONE, created_by=world.owner, store=world.store_own
    )
    world.obj["batch_other"] = ImportBatch.objects.create(
        source_name="matrix-other.csv", status=ImportBatch.Status.DONE, created_by=world.owner, store=world.store_other
    )


def _batch(w):
    return {"pk": w.obj["batch"].pk}


def _batch_other(w):
    return {"pk": w.obj["batch_other"].pk}


# Staff have no sales.view_importbatch: refused (403) whichever store's batch they name.
BATCH = dict(staff=403, kwargs=_batch, kwargs_other=_batch_other, staff_other=403)


URL_ACCESS = {
    "sales:store_takings": Access(),
    "sales:importbatch_list": Access(staff=403),
    "sales:importbatch_create": Access(staff=403, accountant=403),
    "sales:importbatch_detail": Access(**BATCH),
    "sales:importbatch_errors": Access(**BATCH),
    "sales:importbatch_run": Access(**BATCH, accountant=403, owner=302, method="post"),
    "sales:sale_list": Access(must_contain={"staff": ["MX-OWN-1"]}, must_not_contain={"staff": ["MX-OTHER-1"]}),
    "sales:sale_detail": Access(
        kwargs=lambda w: {"pk": w.obj["sale_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["sale_other"].pk},
        staff_other=404,
        must_not_contain={"staff": ["Unit cost"]},
    ),
    "api:sale-list": Access(anon=401, must_not_contain={"staff": ["MX-OTHER-1", "cost_total"]}),
    "api:sale-detail": Access(
        anon=401,
        kwargs=lambda w: {"pk": w.obj["sale_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["sale_other"].pk},
        staff_other=404,
    ),
    # An empty body reaches the service's validation (400) only with sales.add_sale.
    "api:receipt_post": Access(anon=401, staff=403, owner=400, accountant=403, method="post", data={}),
    "api:receipt_batch": Access(anon=401, staff=403, owner=400, accountant=403, method="post", data={}),
}
