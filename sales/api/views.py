"""Sales API: POS devices post receipts (one or a batch); scripts read sales with filters."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from retailops.permissions import HasPerms, StrictModelPermissions
from sales.filters import SaleFilter
from sales.selectors import sales_visible
from sales.services import receipt_batch_post_from_api, receipt_post_from_api

from .serializers import (
    ReceiptBatchInSerializer,
    ReceiptBatchResultSerializer,
    ReceiptInSerializer,
    ReceiptResultSerializer,
    SaleSerializer,
    result_data,
)


class SaleViewSet(viewsets.ReadOnlyModelViewSet):
    """Receipts of the stores the caller may see, newest first; filter by store, dates, product, customer."""

    serializer_class = SaleSerializer
    permission_classes = [StrictModelPermissions]
    filterset_class = SaleFilter

    def get_queryset(self):
        return sales_visible(user=self.request.user).prefetch_related("lines__product")


def _status_for(outcome) -> int:
    if outcome.status == "accepted":
        return status.HTTP_201_CREATED
    if outcome.status == "duplicate":
        return status.HTTP_200_OK
    if outcome.errors and outcome.errors[0].startswith("conflict"):
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


class ReceiptPostApi(APIView):
    """Post one receipt. Idempotent on (store, pos_reference): posting it again changes nothing."""

    permission_classes = [HasPerms.of("sales.add_sale")]

    @extend_schema(
        request=ReceiptInSerializer,
        responses={
            201: OpenApiResponse(ReceiptResultSerializer, description="accepted: posted now"),
            200: OpenApiResponse(ReceiptResultSerializer, description="duplicate: already posted, nothing changed"),
            400: OpenApiResponse(ReceiptResultSerializer, description="rejected, with the reasons"),
            409: OpenApiResponse(ReceiptResultSerializer, description="conflict: same reference, other content"),
        },
    )
    def post(self, request):
        serializer = ReceiptInSerializer(data=request.data)
        if not serializer.is_valid():
            return Response(
                {
                    "pos_reference": str(request.data.get("pos_reference", ""))[:64]
                    if hasattr(request.data, "get")
                    else "",
                    "store": str(request.data.get("store", ""))[:20] if hasattr(request.data, "get") else "",
                    "status": "rejected",
                    "sale_id": None,
                    "errors": _flatten(serializer.errors),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        outcome = receipt_post_from_api(item=serializer.validated_data, user=request.user)
        return Response(result_data(outcome), status=_status_for(outcome))


class ReceiptBatchApi(APIView):
    """Post up to 500 receipts; the answer says per receipt accepted / duplicate / rejected, with reasons."""

    permission_classes = [HasPerms.of("sales.add_sale")]

    @extend_schema(request=ReceiptBatchInSerializer, responses={200: ReceiptBatchResultSerializer})
    def post(self, request):
        items = request.data.get("receipts") if hasattr(request.data, "get") else None
        if not isinstance(items, list) or not items:
            return Response({"detail": 'Send {"receipts": [ … ]} with at least one receipt.'}, status=400)
        if len(items) > ReceiptBatchInSerializer().fields["receipts"].max_length:
            return Response({"detail": "At most 500 receipts per batch."}, status=400)
        valid, invalid = [], {}
        for n, item in enumerate(items):
            serializer = ReceiptInSerializer(data=item)
            if serializer.is_valid():
                valid.append((n, serializer.validated_data))
            else:
                invalid[n] = {
                    "pos_reference": str(item.get("pos_reference", ""))[:64] if isinstance(item, dict) else "",
                    "store": str(item.get("store", ""))[:20] if isinstance(item, dict) else "",
                    "status": "rejected",
                    "sale_id": None,
                    "errors": _flatten(serializer.errors),
                }
        outcomes, batch = (
            receipt_batch_post_from_api(items=[v for _, v in valid], user=request.user, as_batch=True)
            if valid
            else ([], None)
        )
        by_index = {n: result_data(o) for (n, _), o in zip(valid, outcomes, strict=True)}
        results = [by_index.get(n) or invalid[n] for n in range(len(items))]
        body = {
            "batch_id": batch.pk if batch else None,
            "accepted": sum(1 for r in results if r["status"] == "accepted"),
            "duplicate": sum(1 for r in results if r["status"] == "duplicate"),
            "rejected": sum(1 for r in results if r["status"] == "rejected"),
            "results": results,
        }
        return Response(body, status=status.HTTP_200_OK)


def _flatten(errors, prefix="") -> list[str]:
    out = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            out += _flatten(value, f"{prefix}{key}." if key != "non_field_errors" else prefix)
    elif isinstance(errors, list):
        for i, value in enumerate(errors):
            if isinstance(value, dict | list):
                out += _flatten(value, f"{prefix}{i}.")
            else:
                out.append(f"{prefix.rstrip('.')}: {value}" if prefix else str(value))
    else:
        out.append(f"{prefix.rstrip('.')}: {errors}")
    return out
