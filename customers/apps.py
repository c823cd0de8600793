from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Customers, loyalty tiers and the points ledger. Its list / detail / insights pages read sales, so they are
    served by reports (namespace customer_reports, same /customers/… paths); their menu entries stay here, so
    the menu keeps its order."""

    name = "customers"
    nav = [
        ("Customers", "customer_reports:customer_list", "customers.view_customer"),
        ("Customer insights", "customer_reports:insights", "customers.view_customer"),
    ]
