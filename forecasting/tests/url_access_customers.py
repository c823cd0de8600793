"""Expected access to the customer-model API (/api/v1/customer-predictions/, customer-model-runs/): moved from
customers/tests/url_access.py with the API, unchanged. See that module for the roles' rules."""

from customers.tests.url_access import EMAIL, NAME, NO_PII, build  # noqa: F401 — build: the matrix's builder
from retailops.testing import Access

URL_ACCESS = {
    "api:customer-prediction-list": Access(anon=401, staff=403, must_not_contain={"accountant": [NAME, EMAIL]}),
    "api:customer-prediction-detail": Access(
        anon=401,
        staff=403,
        kwargs=lambda w: {"pk": w.obj["cu_prediction"].pk},
        kwargs_other=lambda w: {"pk": w.obj["cu_prediction_other"].pk},
        staff_other=403,  # staff have no customers.view_customerprediction: refused for every store
        must_not_contain=NO_PII,
    ),
    "api:customer-model-run-list": Access(anon=401, staff=403),
    "api:customer-model-run-detail": Access(anon=401, staff=403, kwargs=lambda w: {"pk": w.obj["cu_run"].pk}),
    "api:customer-model-train": Access(anon=401, staff=403, accountant=403, owner=202, method="post", data={}),
}
