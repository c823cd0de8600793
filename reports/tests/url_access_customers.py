"""Expected access to the customer pages served by reports (namespace customer_reports, /customers/… paths):
moved from customers/tests/url_access.py with the views, unchanged. See that module for the roles' rules."""

from customers.tests.url_access import NO_PII, OTHER, _cust, _read, build  # noqa: F401 — build: the matrix's builder
from retailops.testing import Access

URL_ACCESS = {
    "customer_reports:customer_list": _read(),
    "customer_reports:customer_detail": _read(kwargs=_cust, **OTHER),
    "customer_reports:customer_merge": Access(
        staff=403, accountant=403, owner=302, kwargs=_cust, method="post", data={"duplicate": "NOPE"}, **OTHER
    ),
    "customer_reports:insights": _read(),
    "customer_reports:models": _read(),
    "customer_reports:model_run_start": Access(staff=403, accountant=403, owner=302, method="post", data={}),
    "customer_reports:model_run_progress": _read(kwargs=lambda w: {"pk": w.obj["cu_run"].pk}),
    "customer_reports:stock_exposure": _read(),
    "customer_reports:stock_exposure_export": Access(
        staff=403, kwargs=lambda w: {"fmt": "csv"}, must_not_contain=NO_PII
    ),
    "customer_reports:stock_exposure_badge": _read(),
    "customer_reports:inventory_link": _read(),
}
