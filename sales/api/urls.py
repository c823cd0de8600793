from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import ReceiptBatchApi, ReceiptPostApi, SaleViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("sales", SaleViewSet, basename="sale")

urlpatterns = [
    path("receipts/", ReceiptPostApi.as_view(), name="receipt_post"),
    path("receipts/batch/", ReceiptBatchApi.as_view(), name="receipt_batch"),
] + router.urls
