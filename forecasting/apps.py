from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    name = "forecasting"
    nav = [
        ("Forecasts", "forecasting:forecast_overview", "forecasting.view_demandforecast"),
        ("Reorder", "forecasting:suggestion_list", "forecasting.view_reordersuggestion"),
        ("Calendar", "forecasting:calendar", "forecasting.view_promotion"),
    ]

    def ready(self):
        # Celery discovers only tasks.py: register the customer-model tasks too (needs the app registry).
        from . import customer_tasks  # noqa: F401, PLC0415 — registered in ready(): the app registry must be loaded
