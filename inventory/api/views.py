"""Scanner API: list / read / open counts, scan or set a line, submit — the same services as the pages."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.models import Category, StockCount
from inventory.selectors import stores_visible
from inventory.services import (
    product_by_code,
    stock_count_line_set,
    stock_count_scan,
    stock_count_start,
    stock_count_submit,
)
from retailops.permissions import HasPerms

from .serializers import (
    LineSetInput,
    ScanInput,
    ScanOutput,
    StockCountDetailSerializer,
    StockCountLineSerializer,
    StockCountSerializer,
    StockCountStartInput,
    SubmitInput,
    SubmitOutput,
)

ERROR = OpenApiResponse(description="Refused: the body's `detail` says why; nothing was changed.")


def _counts_for(user):
    return (
        StockCount.objects.for_user(user)
        .select_related("store")
        .annotate(line_count=Count("lines"), counted_count=Count("lines", filter=Q(lines__counted_at__isnull=False)))
        .order_by("-created_at", "-pk")
    )


class StockCountViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Counts of the stores the caller may see (`?status=open` for the ones to scan into); POST opens one."""

    serializer_class = StockCountSerializer
    filterset_fields = ["status", "store"]

    def get_queryset(self):
        return _counts_for(self.request.user)

    def get_serializer_class(self):
        return StockCountDetailSerializer if self.action == "retrieve" else StockCountSerializer

    def retrieve(self, request, *args, **kwargs):
        count = self.get_object()
        count = _counts_for(request.user).prefetch_related("lines__product").get(pk=count.pk)
        return Response(StockCountDetailSerializer(count).data)

    @extend_schema(request=StockCountStartInput, responses={201: StockCountSerializer, 400: ERROR})
    def create(self, request, *args, **kwargs):
        data = StockCountStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        store = get_object_or_404(stores_visible(user=request.user), pk=v["store"])
        category = get_object_or_404(Category, pk=v["category"]) if v.get("category") else None
        products, unknown = [], []
        for code in v.get("products", []):
            product = product_by_code(code)
            if product is None:
                unknown.append(code)
            else:
                products.append(product)
        if unknown:
            raise ValidationError(f"No product has the code {', '.join(unknown)}.")
        count = stock_count_start(
            store=store,
            actor=request.user,
            scope=v["scope"],
            category=category,
            products=products,
            blind=v["blind"],
            note=v["note"],
            cycle_limit=v.get("cycle_limit"),
        )
        count = _counts_for(request.user).get(pk=count.pk)
        return Response(StockCountSerializer(count).data, status=status.HTTP_201_CREATED)


class _CountCommand(APIView):
    permission_classes = [HasPerms.of("inventory.view_stockcount", "inventory.change_stockcount")]

    def count(self, request, pk) -> StockCount:
        return get_object_or_404(StockCount.objects.for_user(request.user), pk=pk)


class StockCountScanApi(_CountCommand):
    @extend_schema(
        request=ScanInput,
        responses={200: ScanOutput, 400: ERROR, 404: ERROR, 409: ERROR},
        summary="Scan a code into an open count",
        description="Adds `quantity` (default 1) to the line of the product whose SKU or barcode is `code`, "
        "or sets the line's total with mode=set. Two scanners may scan the same product at once: no "
        "increment is lost. An unknown code is refused (400) unless record_unknown is true with a note. "
        "A count that is no longer open answers 409.",
    )
    def post(self, request, pk):
        count = self.count(request, pk)
        data = ScanInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = stock_count_scan(
            count=count,
            code=v["code"],
            actor=request.user,
            quantity=v.get("quantity"),
            mode=v["mode"],
            note=v["note"],
            record_unknown=v["record_unknown"],
        )
        result.line.refresh_from_db()
        return Response(ScanOutput({"line": result.line, "added": result.added}).data)


class StockCountLineSetApi(_CountCommand):
    @extend_schema(
        request=LineSetInput,
        responses={200: StockCountLineSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
        summary="Set the counted total of one line",
    )
    def post(self, request, pk, line_pk):
        count = self.count(request, pk)
        data = LineSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        line = stock_count_line_set(
            count=count, line_id=line_pk, quantity=data.validated_data["quantity"], actor=request.user
        )
        return Response(StockCountLineSerializer(line).data)


class StockCountSubmitApi(_CountCommand):
    @extend_schema(
        request=SubmitInput,
        responses={200: SubmitOutput, 400: ERROR, 404: ERROR, 409: SubmitOutput},
        summary="Submit a count for reconciliation",
        description="200: submitted (frozen for the owner). 409 with `recount_lines`: those lines differ from "
        "the book by more than the thresholds and were sent back for a blind recount; count them and "
        "submit again. 409 without lines: the count was already submitted or closed.",
    )
    def post(self, request, pk):
        count = self.count(request, pk)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = stock_count_submit(
            count=count, actor=request.user, uncounted_as_zero=data.validated_data["uncounted_as_zero"]
        )
        if result.submitted:
            body = {"status": result.count.status, "submitted": True, "detail": "Submitted.", "recount_lines": []}
            return Response(SubmitOutput(body).data)
        body = {
            "status": result.count.status,
            "submitted": False,
            "detail": f"{len(result.recount_lines)} line(s) need a blind recount before the count can be submitted.",
            "recount_lines": result.recount_lines,
        }
        return Response(SubmitOutput(body).data, status=status.HTTP_409_CONFLICT)
