"""Expected access to the pipeline health page (see retailops.testing): owners only — it names workers' hosts and
tasks' errors; staff and accountants are refused."""

from retailops.testing import Access

URL_ACCESS = {
    "health:health": Access(staff=403, accountant=403, must_contain={"owner": ["Pipeline health"]}),
}
