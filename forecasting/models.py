"""Forecast runs and their chunks, frozen daily forecasts, backtest accuracy, and reorder suggestions."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from inventory.scoping import ForecastRunScopedQuerySet, StoreScopedQuerySet

MONEY = {"max_digits": 14, "decimal_places": 2}
QTY = {"max_digits": 12, "decimal_places": 3}


class ForecastRun(models.Model):
    """One forecast of a scope of series: what was asked, progress, timings and which series failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for a worker"
        RUNNING = "running", "running"
        DONE = "done", "done"
        PARTIAL = "partial", "done, some series failed"
        FAILED = "failed", "failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    horizon_days = models.PositiveSmallIntegerField(default=28)
    model_names = models.JSONField(default=list, help_text="Candidate models; each series gets its backtest winner.")
    backtest_windows = models.PositiveSmallIntegerField(default=2)
    store_ids = models.JSONField(default=list, blank=True, help_text="Empty = every active store.")
    history_end = models.DateField(help_text="Last day of history used; forecasts start the day after.")
    chunk_size = models.PositiveIntegerField(default=100)
    series_total = models.PositiveIntegerField(default=0)
    series_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    failed_series = models.JSONField(default=dict, blank=True, help_text='{"store:product": "why"}')
    message = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, default="manual")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ForecastRunScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("receive_forecast_digest", "Receives the daily stock-alert e-mail")]

    def __str__(self) -> str:
        return f"Forecast run #{self.pk} · {self.get_status_display()}"

    @property
    def progress(self) -> int:
        if not self.chunks_total:
            return 100 if self.status in {self.Status.DONE, self.Status.PARTIAL} else 0
        return int(100 * self.chunks_done / self.chunks_total)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.PARTIAL, self.Status.FAILED}


class ForecastChunk(models.Model):
    """A slice of a run's series. A chunk writes all its results in one transaction, then is done."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    series = models.JSONField(help_text="[[store_id, product_id], …]")
    done = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it.")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="Set while a worker computes it, renewed by its heartbeat; past = lost."
    )
    claimed_by = models.CharField(max_length=100, blank=True, help_text="The worker (host:pid) computing it.")
    failed_series = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="uniq_forecast_chunk")]
        indexes = [
            models.Index(
                fields=["lease_until"], name="chunk_lease_open", condition=Q(done=False, lease_until__isnull=False)
            )
        ]

    def __str__(self) -> str:
        return f"Run #{self.run_id} chunk {self.number}"


class DemandForecast(models.Model):
    """A frozen daily forecast: run × store × product × day, with its 80 % interval."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="forecasts")
    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    yhat = models.FloatField()
    lo = models.FloatField()
    hi = models.FloatField()
    baseline = models.FloatField(
        null=True, blank=True, help_text="The forecast without promotion or holiday uplift (None: no calendar)."
    )
    model = models.CharField(max_length=20)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["run", "store", "product", "date"]
        constraints = [models.UniqueConstraint(fields=["run", "store", "product", "date"], name="uniq_demand_forecast")]
        indexes = [models.Index(fields=["store", "product", "date"], name="forecast_sp_date")]

    def __str__(self) -> str:
        return f"{self.date}: {self.yhat:.1f} ({self.lo:.1f}–{self.hi:.1f})"


class ForecastAccuracy(models.Model):
    """Backtest accuracy of one model on one series in one run; `chosen` marks the winner."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="accuracies")
    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=20)
    mase = models.FloatField(null=True, blank=True)
    wmape = models.FloatField(null=True, blank=True)
    bias = models.FloatField(null=True, blank=True)
    rmse = models.FloatField(null=True, blank=True, help_text="Daily forecast error, used for safety stock.")
    units = models.FloatField(null=True, blank=True, help_text="Units sold over the backtest windows.")
    abs_error = models.FloatField(null=True, blank=True, help_text="Sum of absolute errors over the backtest.")
    abs_error_week = models.FloatField(
        null=True, blank=True, help_text="Sum over the backtest's weeks of the absolute error of the week's total."
    )
    error = models.FloatField(null=True, blank=True, help_text="Sum of errors (forecast − actual) over the backtest.")
    chosen = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    history_days = models.PositiveIntegerField(default=0)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "forecast accuracies"
        ordering = ["run", "store", "product", "model"]
        constraints = [
            models.UniqueConstraint(fields=["run", "store", "product", "model"], name="uniq_forecast_accuracy")
        ]
        indexes = [models.Index(fields=["run", "chosen"], name="accuracy_run_chosen")]

    def __str__(self) -> str:
        return f"{self.model} on {self.store_id}:{self.product_id}"

    @property
    def wmape_week(self) -> float | None:
        """Error of weekly totals ÷ units sold over the backtest (None for runs before it was recorded)."""
        if self.abs_error_week is None or not self.units:
            return None
        return self.abs_error_week / self.units


class ReorderSuggestion(models.Model):
    """What to buy (or move between stores) for one store × product, and why."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "buy from supplier"
        TRANSFER = "transfer", "move from another store"

    class Status(models.TextChoices):
        OPEN = "open", "open"
        ACCEPTED = "accepted", "accepted"
        ORDERED = "ordered", "on a draft purchase order"
        MOVED = "moved", "moved from the other store"
        DISMISSED = "dismissed", "dismissed"
        SUPERSEDED = "superseded", "replaced by a newer suggestion"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURCHASE)
    run = models.ForeignKey(ForecastRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="+")
    supplier = models.ForeignKey(
        "inventory.Supplier", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_store = models.ForeignKey(
        "inventory.Store",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="For a transfer: the store with the surplus.",
    )
    on_hand = models.DecimalField(**QTY, default=Decimal("0"))
    on_order = models.DecimalField(**QTY, default=Decimal("0"))
    lead_time_days = models.PositiveSmallIntegerField(default=0)
    review_period_days = models.PositiveSmallIntegerField(default=7)
    service_level = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.95"))
    forecast_lead_time = models.DecimalField("forecast over lead time", **QTY, default=Decimal("0"))
    forecast_review = models.DecimalField("forecast over review period", **QTY, default=Decimal("0"))
    forecast_error = models.FloatField(default=0, help_text="Daily RMSE of the backtest.")
    safety_stock = models.DecimalField(**QTY, default=Decimal("0"))
    reorder_point = models.DecimalField(**QTY, default=Decimal("0"))
    order_up_to = models.DecimalField(**QTY, default=Decimal("0"))
    raw_quantity = models.DecimalField(**QTY, default=Decimal("0"))
    suggested_qty = models.DecimalField(**QTY, default=Decimal("0"))
    quantity = models.DecimalField("quantity to order", **QTY, default=Decimal("0"))
    unit_cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    cash_needed = models.DecimalField(**MONEY, default=Decimal("0"))
    margin_at_risk = models.DecimalField("expected lost margin if not ordered", **MONEY, default=Decimal("0"))
    in_budget = models.BooleanField(default=True)
    explanation = models.JSONField(default=list, help_text="Lines of plain text: how the quantity was reached.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    edit_reason = models.CharField(max_length=200, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    purchase_order = models.ForeignKey(
        "inventory.PurchaseOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["store", "-margin_at_risk", "product"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="suggestion_qty_ge_0"),
        ]
        indexes = [models.Index(fields=["status", "store"], name="suggestion_status_store")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} × {self.product_id} → {self.store_id}"


class StockAlert(models.Model):
    """A current alert for one store × product, rebuilt with each set of reorder suggestions."""

    class Kind(models.TextChoices):
        STOCKOUT_RISK = "stockout_risk", "stockout risk within lead time"
        LOW_STOCK = "low_stock", "low stock"
        SEASON = "season", "season coming back"
        OVERSTOCK = "overstock", "overstock"
        DEAD_STOCK = "dead_stock", "dead stock"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    severity = models.PositiveSmallIntegerField(default=2, help_text="1 = act now, 2 = soon, 3 = review.")
    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("inventory.Product", on_delete=models.CASCADE, related_name="+")
    message = models.CharField(max_length=300)
    on_hand = models.DecimalField(**QTY, default=Decimal("0"))
    days_of_cover = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["severity", "store", "product"]
        constraints = [models.UniqueConstraint(fields=["kind", "store", "product"], name="uniq_stock_alert")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.product_id}@{self.store_id}"


# --- the retail calendar: promotions, closures, public holidays (forecasting/calendar.py reads them) --------------


class PromotionQuerySet(models.QuerySet):
    """Promotions are chain planning data bound to stores through a many-to-many (none = every store)."""

    def visible_to(self, user):
        """The promotions a user may read: every one for a user who sees every store; for anyone else the
        chain-wide ones and those that include one of their stores (never another store's own promotion)."""
        from inventory.models import Store  # noqa: PLC0415 — inventory.models imports nothing of forecasting

        if user is None or not user.is_authenticated:
            return self.none()
        mine = Store.objects.for_user(user).values("pk")
        return self.filter(Q(stores__isnull=True) | Q(pk__in=self.model.stores.through.objects.filter(
            store_id__in=mine).values("promotion_id"))).distinct()  # fmt: skip

    def overlapping(self, start, end):
        """Promotions running on any day of start..end (both inclusive)."""
        return self.filter(start__lte=end, end__gte=start)


# The years a promotion may fall in: the calendar is read for forecasts of the sales history and the weeks ahead.
PROMOTION_FIRST_YEAR, PROMOTION_LAST_YEAR = 1990, 2200


class Promotion(models.Model):
    """A discount on products and/or categories, in some stores (none = every store), from start to end inclusive."""

    name = models.CharField(max_length=120)
    start = models.DateField()
    end = models.DateField(help_text="The last day of the promotion (inclusive).")
    stores = models.ManyToManyField("inventory.Store", blank=True, related_name="+", help_text="None: every store.")
    products = models.ManyToManyField("inventory.Product", blank=True, related_name="+")
    categories = models.ManyToManyField(
        "inventory.Category", blank=True, related_name="+", help_text="A top category includes its sub-categories."
    )
    discount_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="% off the list price, e.g. 20 for 20 % off."
    )
    promo_price = models.DecimalField(**MONEY, null=True, blank=True, help_text="Or: the price during the promotion.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["-start", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="promotion_end_ge_start"),
            models.CheckConstraint(
                condition=(Q(discount_percent__isnull=False) & Q(promo_price__isnull=True))
                | (Q(discount_percent__isnull=True) & Q(promo_price__isnull=False)),
                name="promotion_one_discount_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start:%d %b}–{self.end:%d %b %Y}, {self.discount_label})"

    @property
    def discount_label(self) -> str:
        if self.discount_percent is not None:
            return f"{self.discount_percent.normalize():f} % off"
        return f"at {self.promo_price}" if self.promo_price is not None else "no discount"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError  # noqa: PLC0415 — only models' validation needs it

        errors: dict[str, str] = {}
        if self.start and self.end and self.end < self.start:
            errors["end"] = f"The promotion ends ({self.end:%d %b %Y}) before it starts ({self.start:%d %b %Y})."
        for name in ("start", "end"):
            day = getattr(self, name)
            if day and not (PROMOTION_FIRST_YEAR <= day.year <= PROMOTION_LAST_YEAR):
                errors.setdefault(
                    name,
                    f"A promotion runs between {PROMOTION_FIRST_YEAR} and {PROMOTION_LAST_YEAR}, not in {day.year}.",
                )
        has_percent, has_price = self.discount_percent is not None, self.promo_price is not None
        if has_percent == has_price:
            errors["discount_percent"] = "Give either a discount in % or a promotion price, not both and not neither."
        elif has_percent and not (Decimal("0") < self.discount_percent < Decimal("100")):
            errors["discount_percent"] = "The discount must be more than 0 % and less than 100 %."
        elif has_price and self.promo_price < 0:
            errors["promo_price"] = "The promotion price cannot be negative."
        if self.pk and not (self.products.exists() or self.categories.exists()):
            errors["products"] = "Choose at least one product or category for the promotion."
        if errors:
            raise ValidationError(errors)

    def share_for(self, list_price: Decimal | None) -> float:
        """The discount share (0.2 = 20 % off) on a product with this list price."""
        if self.discount_percent is not None:
            return float(self.discount_percent) / 100.0
        if self.promo_price is None or not list_price or list_price <= 0:
            return 0.0
        return max(0.0, min(1.0, 1.0 - float(self.promo_price) / float(list_price)))


class StoreClosure(models.Model):
    """A one-off day a store is shut (a refit, a snow day)."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "store"]
        constraints = [models.UniqueConstraint(fields=["store", "date"], name="uniq_store_closure")]

    def __str__(self) -> str:
        return f"{self.store_id} closed {self.date}"


class WeeklyClosingDay(models.Model):
    """A weekday a store is always shut. Entered by hand (confirmed), or detected from the sales history (no sales
    on that weekday for 8+ weeks) and used only once an owner confirms it."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    confirmed = models.BooleanField(default=False, help_text="Only confirmed closing days are used by forecasts.")
    detected = models.BooleanField(default=False, help_text="Found in the sales history rather than entered.")
    detected_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["store", "weekday"]
        constraints = [models.UniqueConstraint(fields=["store", "weekday"], name="uniq_weekly_closing_day")]

    def __str__(self) -> str:
        state = "confirmed" if self.confirmed else "to confirm"
        return f"{self.store_id} closed {self.get_weekday_display()}s ({state})"


class HolidayOverride(models.Model):
    """A store's own trading on one day, over its country's public holidays: open as usual, closed, or a short day."""

    class Kind(models.TextChoices):
        OPEN = "open", "open as usual"
        CLOSED = "closed", "closed"
        SHORT = "short", "short day"

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    kind = models.CharField(max_length=6, choices=Kind.choices)
    note = models.CharField(max_length=200, blank=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "store"]
        constraints = [models.UniqueConstraint(fields=["store", "date"], name="uniq_holiday_override")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.date}: {self.get_kind_display()}"
