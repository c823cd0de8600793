"""Expected access to the inventory URLs (see retailops.testing)."""

from retailops.testing import Access

URL_ACCESS = {
    "inventory:store_list": Access(),
    "inventory:product_list": Access(must_not_contain={"staff": ["Cost"]}),
    "inventory:stock_alerts": Access(),
}
