"""Expected access to the insights report, its PDF and "send now" (see retailops.testing).

Owners and accountants open the report and its PDF; staff are refused whatever store they name (403); only owners
may send the weekly e-mail ahead of time (a POST that queues it, then a redirect back to the page)."""

from retailops.testing import Access


def _own(w):
    return f"store={w.store_own.pk}"


def _other(w):
    return f"store={w.store_other.pk}"


URL_ACCESS = {
    "insights:insights": Access(staff=403, query=_own, query_other=_other, staff_other=403),
    "insights:insights_pdf": Access(staff=403, query=_own, query_other=_other, staff_other=403),
    "insights:insights_send": Access(method="post", staff=403, owner=302, accountant=403),
}
