from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("stock-counts", views.StockCountViewSet, basename="stockcount")

urlpatterns = [
    *router.urls,
    path("stock-counts/<int:pk>/scan/", views.StockCountScanApi.as_view(), name="stockcount-scan"),
    path(
        "stock-counts/<int:pk>/lines/<int:line_pk>/", views.StockCountLineSetApi.as_view(), name="stockcount-line-set"
    ),
    path("stock-counts/<int:pk>/submit/", views.StockCountSubmitApi.as_view(), name="stockcount-submit"),
]
