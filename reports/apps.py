from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Dashboards (sales, inventory, profit, cash flow) and the accountant's exports: read-only over the
    other apps' data; its one model is the log of weekly insights e-mails sent (so a re-delivered task sends once).

    Sits above forecasting (DESIGN §2), so it may read forecasts directly. Its pages keep their /sales/…
    paths; their menu entries stay in SalesConfig.nav for now, so the menu keeps its order.
    """

    name = "reports"
