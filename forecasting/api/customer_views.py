"""Customer-model API (moved from customers/api/): each customer's latest predictions, the training runs,
and a command to start one."""

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import selectors as sel
from customers.models import CustomerModelRun, CustomerPrediction
from forecasting.customer_models import model_run_start
from retailops.permissions import HasPerms

from .customer_serializers import (
    CustomerModelRunSerializer,
    CustomerPredictionSerializer,
    ModelRunStartInput,
    ModelRunStartOutput,
)


class CustomerPredictionFilter(filters.FilterSet):
    customer = filters.CharFilter(field_name="customer__code", help_text="A customer code (exact).")
    store = filters.CharFilter(field_name="customer__home_store__code", help_text="Home store code.")
    min_spend_quarter = filters.NumberFilter(field_name="spend_quarter", lookup_expr="gte")
    exposed = filters.BooleanFilter(method="filter_exposed", help_text="Only customers who met empty shelves.")

    class Meta:
        model = CustomerPrediction
        fields = ["customer", "store", "min_spend_quarter", "exposed"]

    def filter_exposed(self, qs, name, value):
        return qs.filter(exposed_visits__gt=0) if value else qs.filter(exposed_visits=0)


@extend_schema_view(
    list=extend_schema(
        summary="Every customer's predictions from the latest finished training run",
        description=(
            "Spend next quarter / year by the kept model (and both models' quarter figures), expected "
            "purchases, P(still active), discount probability and expected amount, stockout exposure. "
            "Customers are identified by code only; no personal data. Filter with ?customer=CODE."
        ),
    ),
    retrieve=extend_schema(summary="One prediction row"),
)
class CustomerPredictionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CustomerPredictionSerializer
    filterset_class = CustomerPredictionFilter
    queryset = CustomerPrediction.objects.none()

    def get_queryset(self) -> QuerySet[CustomerPrediction]:
        return sel.predictions_latest().for_user(self.request.user).select_related("run").order_by("customer__code")


@extend_schema_view(
    list=extend_schema(summary="Training runs of the customer models, newest first, with their metrics"),
    retrieve=extend_schema(summary="One training run (poll it for progress)"),
)
class CustomerModelRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CustomerModelRunSerializer
    queryset = CustomerModelRun.objects.all().order_by("-created_at", "-id")


class CustomerModelTrainApi(APIView):
    permission_classes = [HasPerms.of("customers.train_customer_models")]

    @extend_schema(
        summary="Start a training run in the background (or return the one already under way)",
        description=(
            "One training run at a time, chain-wide: while one is waiting or running, this returns it with "
            "`queued` false. A run whose worker stopped is taken over and queued again. When the task queue is "
            "down the run is still queued (its `message` says so) and starts when the queue is back. With `as_of` the "
            "run sees only sales up to that day; a run as of an earlier day is kept apart (`backdated`) and never "
            "replaces the predictions the pages and `/customer-predictions/` read."
        ),
        request=ModelRunStartInput,
        responses={202: ModelRunStartOutput},
    )
    def post(self, request):
        params = ModelRunStartInput(data=request.data)
        params.is_valid(raise_exception=True)
        run, queued = model_run_start(actor=request.user, as_of=params.validated_data.get("as_of"))
        body = {"run": CustomerModelRunSerializer(run).data, "queued": queued}
        return Response(body, status=status.HTTP_202_ACCEPTED)
