"""Stores, catalogue, stock levels, the append-only stock ledger, counts and purchase orders."""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .scoping import StoreQuerySet, StoreScopedQuerySet

MONEY = {"max_digits": 14, "decimal_places": 2}
COST = {"max_digits": 14, "decimal_places": 4}  # average cost keeps sub-cent precision
QTY = {"max_digits": 12, "decimal_places": 3}  # whole units for "each", grams precision for weight


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a time zone name such as Europe/London.")


def validate_currency(value: str) -> None:
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise ValidationError(f"“{value}” is not a three-letter ISO currency code such as GBP or EUR.")


class StockCountLineQuerySet(StoreScopedQuerySet):
    store_path = "count__store"


class PurchaseOrderLineQuerySet(StoreScopedQuerySet):
    store_path = "order__store"


class GoodsReceiptQuerySet(StoreScopedQuerySet):
    store_path = "order__store"


class Store(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    chain = models.CharField(max_length=80, blank=True, help_text="Chain or banner the store trades under.")
    region = models.CharField(max_length=80, blank=True)
    country = models.CharField(
        max_length=2, default="GB", help_text="ISO 3166 code of its country: its public holidays (e.g. GB, IE, FR)."
    )
    subdivision = models.CharField(
        max_length=10, blank=True, help_text="Region for public holidays where they differ (GB: ENG, SCT, WLS, NIR)."
    )
    timezone = models.CharField(max_length=64, default="Europe/London", validators=[validate_timezone])
    currency = models.CharField(
        max_length=3, default="GBP", validators=[validate_currency], help_text="ISO code of the money it trades in."
    )
    transfer_group = models.CharField(
        max_length=40,
        blank=True,
        help_text="Stores that may move stock to each other. Blank: any store of the same chain and currency; "
        "set: only stores with the same group (and currency).",
    )
    active = models.BooleanField(default=True)
    opened_on = models.DateField(
        null=True,
        blank=True,
        help_text="The first day it traded: a receipt dated earlier is refused. Blank: the floor "
        "RETAILOPS_EARLIEST_SALE_DATE (2000-01-01 by default).",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="StoreMembership", related_name="stores", blank=True
    )

    objects = StoreQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        permissions = [("view_all_stores", "Can see every store, not only the stores one belongs to")]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class StoreMembership(models.Model):
    """The stores a staff member works in; owners and accountants see every store by permission."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "store"], name="uniq_store_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.store.code}"


class Category(models.Model):
    name = models.CharField(max_length=80)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Service level used by reorder suggestions for products of this category (None = the default).
    service_level = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="uniq_category_name")]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name

    def clean(self) -> None:
        if self.parent_id and self.parent.parent_id:
            raise ValidationError("Categories have two levels: a sub-category's parent must be a top category.")


class Supplier(models.Model):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    lead_time_days = models.PositiveSmallIntegerField(default=7)
    min_order_value = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(min_order_value__gte=0), name="supplier_min_order_ge_0")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Unit(models.TextChoices):
        EACH = "each", "each"
        KG = "kg", "kilogram"
        LITRE = "l", "litre"

    class Kind(models.TextChoices):
        GOODS = "goods", "goods (stocked)"
        SERVICE = "service", "fee / service (not stocked)"

    sku = models.CharField("SKU", max_length=40, unique=True)
    barcode = models.CharField(max_length=40, blank=True, db_index=True)
    name = models.CharField(max_length=200)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="products")
    unit = models.CharField(max_length=8, choices=Unit.choices, default=Unit.EACH)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GOODS)
    mrp = models.DecimalField("list price (MRP)", **MONEY, validators=[MinValueValidator(0)])
    dp = models.DecimalField("member price (DP)", **MONEY, validators=[MinValueValidator(0)])
    cost_price = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    case_pack = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sku"]
        permissions = [("view_cost", "Can see costs, stock value and margins")]
        constraints = [
            models.CheckConstraint(condition=Q(mrp__gte=0), name="product_mrp_ge_0"),
            models.CheckConstraint(condition=Q(dp__gte=0), name="product_dp_ge_0"),
            models.CheckConstraint(condition=Q(cost_price__gte=0), name="product_cost_ge_0"),
            models.CheckConstraint(condition=Q(dp__lte=models.F("mrp")), name="product_dp_le_mrp"),
            models.CheckConstraint(condition=Q(case_pack__gte=1), name="product_case_pack_ge_1"),
            models.UniqueConstraint(fields=["barcode"], condition=~Q(barcode=""), name="uniq_product_barcode"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"

    def clean(self) -> None:
        if self.mrp is not None and self.dp is not None and self.dp > self.mrp:
            raise ValidationError({"dp": "The member price (DP) cannot be above the list price (MRP)."})

    @property
    def is_stocked(self) -> bool:
        return self.kind == self.Kind.GOODS

    @property
    def margin_pct(self) -> Decimal | None:
        """Gross margin at list price, as a fraction of the list price."""
        if not self.mrp:
            return None
        return (self.mrp - self.cost_price) / self.mrp


class ProductPrice(models.Model):
    """Price history: each change of MRP / DP / cost, so the past is never recomputed from today's price."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="price_history")
    mrp = models.DecimalField(**MONEY)
    dp = models.DecimalField(**MONEY)
    cost_price = models.DecimalField(**MONEY)
    valid_from = models.DateTimeField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["product", "-valid_from"]
        get_latest_by = "valid_from"

    def __str__(self) -> str:
        return f"{self.product_id} from {self.valid_from:%Y-%m-%d}: {self.mrp}"


class StockLevel(models.Model):
    """Book stock of one product in one store. Invariant: on_hand == Σ StockMovement.quantity."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="stock_levels")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.DecimalField(**QTY, default=Decimal("0"))
    average_cost = models.DecimalField(**COST, default=Decimal("0"))
    # Reorder policy (blank = derived by the forecasting app).
    min_qty = models.DecimalField("reorder point", **QTY, null=True, blank=True)
    max_qty = models.DecimalField("order-up-to level", **QTY, null=True, blank=True)
    service_level = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    review_period_days = models.PositiveSmallIntegerField(default=7)
    lead_time_override_days = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["store", "product"]
        constraints = [
            models.UniqueConstraint(fields=["store", "product"], name="uniq_stock_level"),
            models.CheckConstraint(condition=Q(average_cost__gte=0), name="stock_level_avg_cost_ge_0"),
        ]

    def __str__(self) -> str:
        return f"{self.store.code} / {self.product.sku}: {self.on_hand}"


class LedgerQuerySet(models.QuerySet):
    """Append-only: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} is an append-only ledger: post a correcting entry instead.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} is an append-only ledger: post a correcting entry instead.")


class StockMovementQuerySet(LedgerQuerySet, StoreScopedQuerySet):
    """The ledger's queryset (append-only) with the store scope."""


class AppendOnlyModel(models.Model):
    objects = LedgerQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} is an append-only ledger: entries cannot be edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is an append-only ledger: entries cannot be deleted.")


class StockMovement(AppendOnlyModel):
    """The stock ledger. Nothing edits or deletes a movement; a mistake is corrected by a new one."""

    class Kind(models.TextChoices):
        OPENING = "opening", "opening balance"
        SALE = "sale", "sale"
        RETURN = "return", "customer return"
        RECEIPT = "receipt", "purchase receipt"
        COUNT = "count", "count correction"
        ADJUSTMENT = "adjustment", "adjustment"
        TRANSFER_OUT = "transfer_out", "transfer out"
        TRANSFER_IN = "transfer_in", "transfer in"
        WRITE_OFF = "write_off", "write-off"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="movements")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    quantity = models.DecimalField(**QTY)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    unit_cost = models.DecimalField(**COST, default=Decimal("0"))
    # What caused it, e.g. ("sales.saleline", 812) or ("inventory.stockcountline", 4). One source posts once.
    source_type = models.CharField(max_length=40, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=200, blank=True)

    objects = StockMovementQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["store", "product", "occurred_at"], name="movement_sp_time"),
            # The movements that are not sales or returns (receipts, counts, adjustments, …), by time (the
            # dashboards replay them all over the sales rollups) and by kind and time (counts and write-offs
            # for shrinkage, adjustments for the export). Partial, so the sale movements, almost all of a
            # shop's ledger, neither fill them nor pay for them when written.
            models.Index(fields=["occurred_at"], condition=~Q(kind__in=["sale", "return"]), name="movement_other_time"),
            models.Index(
                fields=["kind", "occurred_at"],
                condition=~Q(kind__in=["sale", "return"]),
                name="movement_other_kind_time",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id", "kind"],
                condition=Q(source_id__isnull=False),
                name="uniq_movement_source",
            ),
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+} {self.product_id}@{self.store_id}"


class ReasonCode(models.TextChoices):
    DAMAGE = "damage", "damage"
    THEFT = "theft", "theft"
    EXPIRED = "expired", "expired"
    SUPPLIER_SHORT = "supplier_short", "supplier short"
    POS_MISSCAN = "pos_misscan", "POS mis-scan"
    DATA_ENTRY = "data_entry", "data entry"
    FOUND = "found", "found"
    UNKNOWN = "unknown", "unknown"


class StockCount(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "open"
        SUBMITTED = "submitted", "submitted"
        RECONCILED = "reconciled", "reconciled"
        REJECTED = "rejected", "rejected"
        CANCELLED = "cancelled", "cancelled"

    class Scope(models.TextChoices):
        STORE = "store", "whole store"
        CATEGORY = "category", "one category"
        PRODUCTS = "products", "list of products"
        CYCLE = "cycle", "ABC cycle count"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="counts")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.STORE)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT)
    blind = models.BooleanField(default=False, help_text="Hide expected quantities from the counters.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    recount_units_threshold = models.DecimalField(**QTY, default=Decimal("5"))
    recount_value_threshold = models.DecimalField(**MONEY, default=Decimal("50"))
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="counts_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="counts_submitted"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="counts_approved"
    )
    reconciled_at = models.DateTimeField(null=True, blank=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("reconcile_stockcount", "Can approve a count and post its corrections")]

    def __str__(self) -> str:
        return f"Count #{self.pk} · {self.store.code} · {self.get_status_display()}"


class StockCountLine(models.Model):
    count = models.ForeignKey(StockCount, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT)
    unknown_code = models.CharField(max_length=60, blank=True, help_text="A scanned code that matched no product.")
    counted_qty = models.DecimalField(**QTY, default=Decimal("0"))
    counted_at = models.DateTimeField(null=True, blank=True)
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    expected_qty = models.DecimalField(**QTY, null=True, blank=True)
    unit_cost = models.DecimalField(**COST, default=Decimal("0"))
    variance = models.DecimalField(**QTY, null=True, blank=True)
    variance_value = models.DecimalField(**MONEY, null=True, blank=True)
    needs_recount = models.BooleanField(default=False)
    first_count_qty = models.DecimalField(**QTY, null=True, blank=True)
    reason = models.CharField(max_length=20, choices=ReasonCode.choices, blank=True)
    note = models.CharField(max_length=200, blank=True)

    objects = StockCountLineQuerySet.as_manager()

    class Meta:
        ordering = ["count", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["count", "product"], condition=Q(product__isnull=False), name="uniq_count_line_product"
            ),
            models.CheckConstraint(condition=Q(counted_qty__gte=0), name="count_line_qty_ge_0"),
            models.CheckConstraint(
                condition=Q(product__isnull=False) | ~Q(unknown_code=""), name="count_line_product_or_code"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product or self.unknown_code}: {self.counted_qty}"


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ORDERED = "ordered", "ordered"
        PARTLY_RECEIVED = "partly_received", "partly received"
        RECEIVED = "received", "received"
        CANCELLED = "cancelled", "cancelled"

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    reference = models.CharField(max_length=40, blank=True)
    expected_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pos_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ordered_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pos_approved"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    amount_paid = models.DecimalField(**MONEY, default=Decimal("0"))
    note = models.TextField(blank=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_purchaseorder", "Can approve (place) a purchase order")]
        constraints = [models.CheckConstraint(condition=Q(amount_paid__gte=0), name="po_amount_paid_ge_0")]
        indexes = [
            # The cash-flow page sums payments by day over up to a year: read from this index alone (PostgreSQL).
            models.Index(
                fields=["paid_at"],
                include=["amount_paid", "status", "store_id"],
                condition=Q(amount_paid__gt=0),
                name="po_paid_at_cover",
            )
        ]

    def __str__(self) -> str:
        return f"PO #{self.pk} · {self.supplier} → {self.store.code}"


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity_ordered = models.DecimalField(**QTY)
    quantity_received = models.DecimalField(**QTY, default=Decimal("0"))
    unit_cost = models.DecimalField(**COST)

    objects = PurchaseOrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="uniq_po_line_product"),
            models.CheckConstraint(condition=Q(quantity_ordered__gt=0), name="po_line_ordered_gt_0"),
            models.CheckConstraint(condition=Q(quantity_received__gte=0), name="po_line_received_ge_0"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="po_line_cost_ge_0"),
        ]

    def __str__(self) -> str:
        return f"PO #{self.order_id} · {self.product_id} × {self.quantity_ordered}"

    @property
    def quantity_open(self) -> Decimal:
        return max(self.quantity_ordered - self.quantity_received, Decimal("0"))


class GoodsReceipt(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="receipts")
    received_at = models.DateTimeField()
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=200, blank=True)

    objects = GoodsReceiptQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Receipt #{self.pk} for PO #{self.order_id}"


class GoodsReceiptLine(models.Model):
    receipt = models.ForeignKey(GoodsReceipt, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines")
    quantity = models.DecimalField(**QTY)
    unit_cost = models.DecimalField(**COST)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="receipt_line_qty_gt_0")]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}"
