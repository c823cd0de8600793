"""Expected access to the stock-level, count and shrinkage pages and the scanner API (see retailops.testing)."""

from decimal import Decimal

from inventory.services import stock_count_scan, stock_count_start, stock_movement_post
from inventory.tests.factories import ProductFactory
from retailops.testing import UNAUTH, Access


def build(world):
    product = ProductFactory(sku="MX-1", name="Matrix mug")
    for store in (world.store_own, world.store_other):
        stock_movement_post(store=store, product=product, quantity=Decimal("4"), kind="opening")
    own = stock_count_start(store=world.store_own, actor=world.owner)
    other = stock_count_start(store=world.store_other, actor=world.owner)
    stock_count_scan(count=own, code="MX-1", actor=world.owner, quantity=4, mode="set")
    world.obj.update(
        count_own=own,
        count_other=other,
        line_own=own.lines.get(),
        line_other=other.lines.get(),
    )


def _count(w):
    return {"pk": w.obj["count_own"].pk}


def _count_other(w):
    return {"pk": w.obj["count_other"].pk}


def _line(w):
    return {"pk": w.obj["count_own"].pk, "line_pk": w.obj["line_own"].pk}


def _line_other(w):
    return {"pk": w.obj["count_other"].pk, "line_pk": w.obj["line_other"].pk}


PAGE_POST = dict(method="post", staff=302, owner=302, accountant=403, staff_other=404)
API_POST = dict(method="post", anon=UNAUTH, staff=200, owner=200, accountant=403, staff_other=404)

URL_ACCESS = {
    "inventory:stocklevel_list": Access(
        must_contain={"staff": ["Own Street"]}, must_not_contain={"staff": ["Unit cost", "stock-value", "Other Road"]}
    ),
    "inventory:stocklevel_export": Access(staff=403),
    "inventory:stockcount_list": Access(must_contain={"staff": ["Own Street"]}, must_not_contain={"staff": ["OTH"]}),
    "inventory:stockcount_create": Access(accountant=403, must_not_contain={"staff": ["Other Road"]}),
    "inventory:stockcount_plan": Access(
        query=lambda w: f"store={w.store_own.pk}", query_other=lambda w: f"store={w.store_other.pk}", staff_other=404
    ),
    "inventory:stockcount_detail": Access(kwargs=_count, kwargs_other=_count_other, staff_other=404),
    "inventory:stockcount_scan": Access(kwargs=_count, kwargs_other=_count_other, data={"code": "MX-1"}, **PAGE_POST),
    "inventory:stockcount_line_set": Access(
        kwargs=_line, kwargs_other=_line_other, data={"quantity": "4"}, **PAGE_POST
    ),
    "inventory:stockcount_submit": Access(kwargs=_count, kwargs_other=_count_other, **PAGE_POST),
    "inventory:stockcount_cancel": Access(kwargs=_count, kwargs_other=_count_other, **PAGE_POST),
    "inventory:shrinkage": Access(staff=403),
    "inventory:shrinkage_export": Access(staff=403),
    "api:stockcount-list": Access(anon=UNAUTH),
    "api:stockcount-detail": Access(anon=UNAUTH, kwargs=_count, kwargs_other=_count_other, staff_other=404),
    "api:stockcount-scan": Access(kwargs=_count, kwargs_other=_count_other, data={"code": "MX-1"}, **API_POST),
    "api:stockcount-line-set": Access(kwargs=_line, kwargs_other=_line_other, data={"quantity": "4"}, **API_POST),
    # the staff member submits; the owner then finds it already submitted (409)
    "api:stockcount-submit": Access(kwargs=_count, kwargs_other=_count_other, **{**API_POST, "owner": 409}),
}
