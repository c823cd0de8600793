"""POS sales and returns, import batches with their row errors, and the daily rollups."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from inventory.scoping import StoreScopedQuerySet, sees_every_store

MONEY = {"max_digits": 14, "decimal_places": 2}
COST = {"max_digits": 14, "decimal_places": 4}
QTY = {"max_digits": 12, "decimal_places": 3}


class ColumnMapping(models.Model):
    """How the columns of one POS's export map onto RetailOps' fields, saved per source."""

    name = models.CharField(max_length=80, unique=True)
    columns = models.JSONField(default=dict, help_text='{"pos_reference": "InvoiceNo", "sku": "StockCode", ...}')
    date_format = models.CharField(max_length=40, blank=True, help_text="strftime format; blank = ISO 8601")
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportBatchQuerySet(models.QuerySet):
    """Import batches are scoped by who started them, not by store: a file may hold many stores (and rows
    of stores the uploader may not see, which it refuses row by row). A user who sees every store sees
    every batch; anyone else the batches they started."""

    def for_user(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
        return self.all() if sees_every_store(user) else self.filter(created_by=user)


class SaleLineQuerySet(StoreScopedQuerySet):
    store_path = "sale__store"


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "waiting for a worker"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    class Source(models.TextChoices):
        FILE = "file", "file upload"
        COMMAND = "command", "command line"
        API = "api", "API"
        WATCH = "watch", "watch folder"

    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FILE)
    source_name = models.CharField(max_length=255)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    mapping = models.ForeignKey(ColumnMapping, null=True, blank=True, on_delete=models.SET_NULL)
    store = models.ForeignKey("inventory.Store", null=True, blank=True, on_delete=models.PROTECT)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    message = models.TextField(blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    rows_read = models.PositiveIntegerField(default=0)
    rows_accepted = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rows_duplicate = models.PositiveIntegerField(default=0)
    sales_created = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Breakdown for the batch page: returns, adjustments, fee lines, products / customers / stores created,
    # the encoding and sheet read, the phase ("reading", "posting"), seconds spent per phase.
    stats = models.JSONField(default=dict, blank=True)

    objects = ImportBatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"
        permissions = [("import_sales", "Can import POS sales files")]

    def __str__(self) -> str:
        return f"Import #{self.pk} · {self.source_name}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ImportRowError(models.Model):
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_errors")
    line_number = models.PositiveIntegerField()
    column = models.CharField(max_length=80, blank=True)
    value = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["batch", "line_number", "id"]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.message}"


class Sale(models.Model):
    """One POS receipt. A return is a Sale of kind RETURN with negative quantities and totals."""

    class Kind(models.TextChoices):
        SALE = "sale", "sale"
        RETURN = "return", "return"

    class Payment(models.TextChoices):
        CASH = "cash", "cash"
        CARD = "card", "card"
        MOBILE = "mobile", "mobile wallet"
        VOUCHER = "voucher", "voucher / points"
        ACCOUNT = "account", "on account"
        OTHER = "other", "other"

    store = models.ForeignKey("inventory.Store", on_delete=models.PROTECT, related_name="sales")
    pos_reference = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    local_date = models.DateField(db_index=True, help_text="The store's local day of the sale.")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="sales"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SALE)
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="returns")
    payment_method = models.CharField(max_length=10, choices=Payment.choices, default=Payment.CARD)
    total = models.DecimalField(**MONEY)
    discount_total = models.DecimalField(**MONEY, default=Decimal("0"))
    cost_total = models.DecimalField(**MONEY, default=Decimal("0"))
    points_earned = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    # A digest of the receipt's content: the same reference with other content is a conflict, not a duplicate.
    content_hash = models.CharField(max_length=64)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="sales"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "pos_reference"], name="uniq_sale_pos_reference"),
            models.CheckConstraint(condition=Q(points_earned__gte=0), name="sale_points_earned_ge_0"),
            models.CheckConstraint(condition=Q(points_redeemed__gte=0), name="sale_points_redeemed_ge_0"),
        ]
        indexes = [models.Index(fields=["store", "local_date"], name="sale_store_day")]
        permissions = [
            ("refund_without_receipt", "Can refund a return that names no original receipt (within the limit)")
        ]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.pos_reference}"


class SaleLine(models.Model):
    class PriceType(models.TextChoices):
        MRP = "mrp", "list price (MRP)"
        DP = "dp", "member price (DP)"
        PROMO = "promo", "promotion"
        OTHER = "other", "other"

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="sale_lines")
    quantity = models.DecimalField(**QTY)
    unit_mrp = models.DecimalField(**MONEY)
    unit_price = models.DecimalField(**MONEY)
    price_type = models.CharField(max_length=6, choices=PriceType.choices, default=PriceType.MRP)
    discount = models.DecimalField(**MONEY, default=Decimal("0"))
    unit_cost = models.DecimalField(**COST)
    line_total = models.DecimalField(**MONEY)
    # The line of the imported file this sale line came from (None for API and till posts).
    source_line = models.PositiveIntegerField(null=True, blank=True)

    objects = SaleLineQuerySet.as_manager()

    class Meta:
        ordering = ["sale", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["sale", "line_no"], name="uniq_sale_line_no"),
            models.CheckConstraint(condition=~Q(quantity=0), name="sale_line_qty_not_zero"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="sale_line_price_ge_0"),
        ]

    def __str__(self) -> str:
        return f"{self.sale_id}#{self.line_no}"


class StockAdjustment(models.Model):
    """A stock adjustment found in a POS export (e.g. "damaged", "found"): no money, only stock.

    Like a Sale it is idempotent on (store, POS reference); its lines post adjustment / write-off
    movements to the stock ledger, one per line, sourced to StockAdjustmentLine.
    """

    store = models.ForeignKey("inventory.Store", on_delete=models.PROTECT, related_name="+")
    pos_reference = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="adjustments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["store", "pos_reference"], name="uniq_adjustment_pos_reference")]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.pos_reference} (adjustment)"


class StockAdjustmentLine(models.Model):
    adjustment = models.ForeignKey(StockAdjustment, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY)
    reason = models.CharField(max_length=200, blank=True)
    source_line = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["adjustment", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["adjustment", "line_no"], name="uniq_adjustment_line_no"),
            models.CheckConstraint(condition=~Q(quantity=0), name="adjustment_line_qty_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.adjustment_id}#{self.line_no}"


class SalesDaily(models.Model):
    """Gold rollup: store × product × local day. Returns are included with negative units and revenue."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    units = models.DecimalField(**QTY, default=Decimal("0"))
    revenue = models.DecimalField(**MONEY, default=Decimal("0"))
    cost = models.DecimalField(**MONEY, default=Decimal("0"))
    discount = models.DecimalField(**MONEY, default=Decimal("0"))
    units_mrp = models.DecimalField(**QTY, default=Decimal("0"))
    revenue_mrp = models.DecimalField(**MONEY, default=Decimal("0"))
    returns_units = models.DecimalField(**QTY, default=Decimal("0"))
    returns_value = models.DecimalField(**MONEY, default=Decimal("0"))
    transactions = models.IntegerField(default=0)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "sales daily"
        permissions = [
            ("view_profit", "Can see profit and cash-flow pages"),
            ("export_reports", "Can download CSV / XLSX exports and the accountant's pack"),
        ]
        constraints = [models.UniqueConstraint(fields=["store", "product", "date"], name="uniq_sales_daily")]
        indexes = [models.Index(fields=["date", "store"], name="salesdaily_date_store")]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.product_id} {self.date}"


class StoreDaily(models.Model):
    """Rollup: store × local day × payment method — receipts, takings, discounts, returns."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    payment_method = models.CharField(max_length=10, choices=Sale.Payment.choices)
    transactions = models.IntegerField(default=0)
    revenue = models.DecimalField(**MONEY, default=Decimal("0"))
    cost = models.DecimalField(**MONEY, default=Decimal("0"))
    discount = models.DecimalField(**MONEY, default=Decimal("0"))
    units = models.DecimalField(**QTY, default=Decimal("0"))
    returns_value = models.DecimalField(**MONEY, default=Decimal("0"))
    customers = models.IntegerField(default=0, help_text="Receipts with a loyalty customer.")

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "store daily"
        constraints = [models.UniqueConstraint(fields=["store", "date", "payment_method"], name="uniq_store_daily")]
        indexes = [models.Index(fields=["date", "store"], name="storedaily_date_store")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.date} {self.payment_method}"


class RollupChange(models.Model):
    """Append-only log of closed days (before today) whose rollups a transaction changed.

    The dashboards cache their sums over closed days; a late import, a backdated receipt or a rebuild
    writes a row here for each past day it touched, so a cached range is fresh exactly while the count
    and the last id of its rows stay the same. Today's rollups are always read live and not logged, so
    the busy day's receipts never contend on this table.
    """

    date = models.DateField()
    logged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["date", "id"], name="rollupchange_date_id")]

    def __str__(self) -> str:
        return f"{self.date} (#{self.pk})"
