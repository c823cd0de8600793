from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    nav = [
        ("Stores", "inventory:store_list", "inventory.view_store"),
        ("Products", "inventory:product_list", "inventory.view_product"),
        ("Stock", "inventory:stocklevel_list", "inventory.view_stocklevel"),
        ("Counts", "inventory:stockcount_list", "inventory.view_stockcount"),
        ("Shrinkage", "inventory:shrinkage", "inventory.view_cost"),
    ]
