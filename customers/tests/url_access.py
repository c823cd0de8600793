"""Expected access to the customers pages and API (see retailops.testing).

DESIGN §8: customer personal data is for owners only. Staff have no customers.view_customer at all
(they count shelves; a customer list without names would still be a list of who shops where), so
every customer page is 403 for them. Accountants read every page (points liability, models, stock
exposure) but never names, phones or e-mails: `must_not_contain` checks the build's customer's.
Exports need sales.export_reports; merging, deleting personal data and training are owner-only.
"""

from retailops.testing import Access

NAME, PHONE, EMAIL = "Priya Matrixcustomer", "07700 900123", "priya.matrix@example.com"
NO_PII = {"accountant": [NAME, PHONE, EMAIL]}


def _cust(w):
    return {"pk": w.obj["cu_customer"].pk}


def _read(**extra):
    return Access(staff=403, must_not_contain=NO_PII, **extra)


URL_ACCESS = {
    "customers:customer_list": _read(),
    "customers:customer_detail": _read(kwargs=_cust),
    "customers:customer_merge": Access(
        staff=403, accountant=403, owner=302, kwargs=_cust, method="post", data={"duplicate": "NOPE"}
    ),
    "customers:customer_anonymise": Access(staff=403, accountant=403, owner=302, kwargs=_cust, method="post", data={}),
    "customers:insights": _read(),
    "customers:liability": _read(),
    "customers:liability_export": Access(staff=403, kwargs=lambda w: {"fmt": "csv"}),
    "customers:models": _read(),
    "customers:model_run_start": Access(staff=403, accountant=403, owner=302, method="post", data={}),
    "customers:model_run_progress": _read(kwargs=lambda w: {"pk": w.obj["cu_run"].pk}),
    "customers:stock_exposure": _read(),
    "customers:stock_exposure_export": Access(staff=403, kwargs=lambda w: {"fmt": "csv"}, must_not_contain=NO_PII),
    "customers:stock_exposure_badge": _read(),
    "customers:inventory_link": _read(),
    "api:customer-prediction-list": Access(anon=401, staff=403, must_not_contain={"accountant": [NAME, EMAIL]}),
    "api:customer-prediction-detail": Access(
        anon=401, staff=403, kwargs=lambda w: {"pk": w.obj["cu_prediction"].pk}, must_not_contain=NO_PII
    ),
    "api:customer-model-run-list": Access(anon=401, staff=403),
    "api:customer-model-run-detail": Access(anon=401, staff=403, kwargs=lambda w: {"pk": w.obj["cu_run"].pk}),
    "api:customer-model-train": Access(anon=401, staff=403, accountant=403, owner=202, method="post", data={}),
}


def build(world):
    """A customer with personal data and a sale, a finished run with a prediction that met an empty shelf."""
    if "cu_customer" in world.obj:
        return
    from decimal import Decimal

    from customers.models import CustomerModelRun, CustomerPrediction
    from customers.tests.factories import CustomerFactory
    from inventory.tests.factories import ProductFactory
    from sales.tests.factories import post_sale

    customer = CustomerFactory(name=NAME, phone=PHONE, email=EMAIL, home_store=world.store_own)
    product = ProductFactory(sku="CU-1", name="Matrix biscuits", mrp=Decimal("3.00"), dp=Decimal("2.50"))
    post_sale(store=world.store_own, lines=[(product, 2, None)], customer=customer)
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.DONE, chosen_model="probabilistic")
    prediction = CustomerPrediction.objects.create(
        run=run, customer=customer, spend_quarter=Decimal("12.00"), exposed_visits=1, visits=2
    )
    world.obj.update(cu_customer=customer, cu_run=run, cu_prediction=prediction)
