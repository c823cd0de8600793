"""Expected access to the project-level URLs (see retailops.testing)."""

from retailops.testing import UNAUTH, Access

URL_ACCESS = {
    "home": Access(),
    "login": Access(anon=200, staff=302, owner=302, accountant=302),
    "logout": Access(method="post", anon=302, staff=302, owner=302, accountant=302),
    "healthz": Access(anon=200),
    "api_schema": Access(anon=UNAUTH),
    "api_docs": Access(),  # a page: anonymous → the login page (issue #15)
}
