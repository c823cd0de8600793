"""Expected access to the sales URLs (see retailops.testing)."""

from retailops.testing import Access

URL_ACCESS = {
    "sales:store_takings": Access(),
}
