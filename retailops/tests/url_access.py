"""Expected access to the project-level URLs (see retailops.testing)."""

from retailops.testing import UNAUTH, Access

URL_ACCESS = {
    "home": Access(),
    "login": Access(anon=200, staff=302, owner=302, accountant=302),
    "logout": Access(method="post", anon=302, staff=302, owner=302, accountant=302),
    # The test run has no Celery worker and no beat: the health check answers 503 to everyone (anonymous too).
    "healthz": Access(anon=503, staff=503, owner=503, accountant=503),
    # The test client calls from 127.0.0.1, on the default RETAILOPS_METRICS_ALLOW: no login needed, none asked.
    "metrics": Access(anon=200),
    "api_schema": Access(anon=UNAUTH),
    "api_docs": Access(),  # a page: anonymous → the login page (issue #15)
}
