from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    nav = [
        ("Customers", "customers:customer_list", "customers.view_customer"),
        ("Customer insights", "customers:insights", "customers.view_customer"),
    ]
