"""Forecast runs, forecasts, accuracy and reorder suggestions (built with the forecasting issue)."""
