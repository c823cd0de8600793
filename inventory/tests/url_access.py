"""Expected access to the inventory URLs (see retailops.testing)."""

from retailops.testing import Access

URL_ACCESS = {
    "inventory:store_list": Access(must_contain={"staff": ["Own Street"]}, must_not_contain={"staff": ["Other Road"]}),
    "inventory:product_list": Access(must_not_contain={"staff": ["Cost"]}),
    "inventory:stock_alerts": Access(),
}
