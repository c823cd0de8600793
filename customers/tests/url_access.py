"""Expected access to the customers pages (see retailops.testing); the customer pages served by reports and the
customer-model API are in reports/tests/url_access_customers.py and forecasting/tests/url_access_customers.py,
which share this module's helpers and build().

DESIGN §8: customer personal data is for owners only. Staff have no customers.view_customer at all
(they count shelves; a customer list without names would still be a list of who shops where), so
every customer page is 403 for them. Accountants read every page (points liability, models, stock
exposure) but never names, phones or e-mails: `must_not_contain` checks the build's customer's.
Exports need sales.export_reports; merging, deleting personal data and training are owner-only.
"""

from decimal import Decimal

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from inventory.tests.factories import ProductFactory
from retailops.testing import Access
from sales.tests.factories import post_sale

NAME, PHONE, EMAIL = "Priya Matrixcustomer", "07700 900123", "priya.matrix@example.com"
NO_PII = {"accountant": [NAME, PHONE, EMAIL]}


def _cust(w):
    return {"pk": w.obj["cu_customer"].pk}


def _cust_other(w):
    return {"pk": w.obj["cu_customer_other"].pk}


# Another store's customer (home store: the other one). Staff have no customer permission at all: 403 whichever
# store's customer they name, so the answer says nothing about which customers exist.
OTHER = dict(kwargs_other=_cust_other, staff_other=403)


def _read(**extra):
    return Access(staff=403, must_not_contain=NO_PII, **extra)


URL_ACCESS = {
    "customers:customer_anonymise": Access(
        staff=403, accountant=403, owner=302, kwargs=_cust, method="post", data={}, **OTHER
    ),
    "customers:liability": _read(),
    "customers:liability_export": Access(staff=403, kwargs=lambda w: {"fmt": "csv"}),
}


def build(world):
    """A customer with personal data and a sale, a finished run with a prediction that met an empty shelf; a
    customer of the other store with a prediction too."""
    if "cu_customer" in world.obj:
        return

    customer = CustomerFactory(name=NAME, phone=PHONE, email=EMAIL, home_store=world.store_own)
    product = ProductFactory(sku="CU-1", name="Matrix biscuits", mrp=Decimal("3.00"), dp=Decimal("2.50"))
    post_sale(store=world.store_own, lines=[(product, 2, None)], customer=customer)
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.DONE, chosen_model="probabilistic")
    prediction = CustomerPrediction.objects.create(
        run=run, customer=customer, spend_quarter=Decimal("12.00"), exposed_visits=1, visits=2
    )
    other = CustomerFactory(name="Omar Otherstore", home_store=world.store_other)
    prediction_other = CustomerPrediction.objects.create(
        run=run, customer=other, spend_quarter=Decimal("5.00"), exposed_visits=0, visits=1
    )
    world.obj.update(
        cu_customer=customer,
        cu_customer_other=other,
        cu_run=run,
        cu_prediction=prediction,
        cu_prediction_other=prediction_other,
    )
