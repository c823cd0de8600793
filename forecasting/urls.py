"""Forecasting pages: forecasts, accuracy, runs, reorder suggestions and the home-page alerts panel."""

from django.urls import path

from . import calendar_views, promo_preview, views

app_name = "forecasting"

urlpatterns = [
    path("", views.ForecastOverviewView.as_view(), name="forecast_overview"),
    path(
        "stores/<int:store_pk>/products/<int:product_pk>/", views.ForecastDetailView.as_view(), name="forecast_detail"
    ),
    path("accuracy/", views.AccuracyOverviewView.as_view(), name="accuracy_overview"),
    path("runs/start/", views.RunStartView.as_view(), name="run_start"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("reorder/", views.SuggestionListView.as_view(), name="suggestion_list"),
    path("reorder/refresh/", views.SuggestionsBuildView.as_view(), name="suggestions_build"),
    path("reorder/budget/", views.SuggestionBudgetView.as_view(), name="suggestion_budget"),
    path("reorder/season/", views.SeasonOrderView.as_view(), name="season_order"),
    path("reorder/<int:pk>/decide/", views.SuggestionDecideView.as_view(), name="suggestion_decide"),
    path("reorder/purchase-orders/", views.PurchaseOrdersCreateView.as_view(), name="purchase_orders_create"),
    path("reorder/transfers/", views.TransfersMoveView.as_view(), name="transfers_move"),
    path("reorder/digest/", views.DigestPreviewView.as_view(), name="digest_preview"),
    path("partials/alerts/", views.AlertsPartialView.as_view(), name="alerts_panel"),
    path("calendar/", calendar_views.CalendarView.as_view(), name="calendar"),
    path("calendar/promotions/add/", calendar_views.PromotionAddView.as_view(), name="promotion_add"),
    path("calendar/import/", calendar_views.CalendarImportView.as_view(), name="calendar_import"),
    path(
        "calendar/closing-days/<int:pk>/confirm/",
        calendar_views.ClosingDayConfirmView.as_view(),
        name="closing_day_confirm",
    ),
    path(
        "calendar/promotions/<int:pk>/uplift/",
        promo_preview.PromotionUpliftView.as_view(),
        name="promotion_uplift",
    ),
]
