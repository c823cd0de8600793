"""Customer-model routes under /api/v1/ (namespace api:), moved from customers/api/: same paths and names."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import customer_views as views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("customer-predictions", views.CustomerPredictionViewSet, basename="customer-prediction")
router.register("customer-model-runs", views.CustomerModelRunViewSet, basename="customer-model-run")

urlpatterns = [
    path("customer-model-runs/train/", views.CustomerModelTrainApi.as_view(), name="customer-model-train"),
    *router.urls,
]
