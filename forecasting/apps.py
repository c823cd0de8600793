from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    name = "forecasting"
    nav = [
        ("Forecasts", "forecasting:forecast_overview", "forecasting.view_demandforecast"),
        ("Reorder", "forecasting:suggestion_list", "forecasting.view_reordersuggestion"),
    ]
