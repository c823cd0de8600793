from django.urls import path
from rest_framework.routers import DefaultRouter

from . import calendar_views, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("forecast-runs", views.ForecastRunViewSet, basename="forecastrun")
router.register("reorder-suggestions", views.ReorderSuggestionViewSet, basename="reordersuggestion")
router.register("promotions", calendar_views.PromotionViewSet, basename="promotion")
router.register("store-closures", calendar_views.StoreClosureViewSet, basename="storeclosure")

urlpatterns = [
    *router.urls,
    path("forecasts/predict/", views.ForecastPredictApi.as_view(), name="forecast-predict"),
    path("reorder/optimize/", views.ReorderOptimizeApi.as_view(), name="reorder-optimize"),
    path("forecasting/sales-trend/", views.SalesTrendApi.as_view(), name="sales-trend"),
    path("forecasting/sales-trend.png", views.SalesTrendPngApi.as_view(), name="sales-trend-png"),
]
