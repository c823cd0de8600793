"""The retail calendar page (/forecasting/calendar/): coming and past promotions, closures, weekly closing days
(detected ones to confirm) and public holidays per store; owners add promotions, confirm closing days and
upload a calendar CSV. Staff read their stores' calendar; accountants read everything."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from inventory.models import Store
from retailops.permissions import RolePermissionMixin

from .calendar import closing_day_confirm, store_holidays
from .calendar_forms import CalendarImportForm, PromotionForm
from .calendar_import import COLUMNS, CalendarImportError, calendar_import
from .models import Promotion, StoreClosure, WeeklyClosingDay

PAST_DAYS = 90
HOLIDAY_DAYS = 120


def _store_filter(request):
    stores = list(Store.objects.for_user(request.user).filter(active=True))
    try:
        chosen = int(request.GET.get("store", ""))
    except ValueError:
        chosen = None
    store = next((s for s in stores if s.pk == chosen), None)
    return stores, store


class CalendarView(RolePermissionMixin, TemplateView):
    template_name = "forecasting/calendar.html"
    permission_required = "forecasting.view_promotion"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        today = timezone.localdate()
        stores, store = _store_filter(self.request)
        promos = Promotion.objects.visible_to(user).prefetch_related("stores", "products", "categories__parent")
        if store:
            promos = promos.filter(
                pk__in=Promotion.objects.filter(stores__isnull=True) | Promotion.objects.filter(stores=store)
            )
        closures = StoreClosure.objects.for_user(user).select_related("store")
        weekly = WeeklyClosingDay.objects.for_user(user).select_related("store", "confirmed_by")
        if store:
            closures, weekly = closures.filter(store=store), weekly.filter(store=store)
        holiday_stores = [store] if store else stores
        grouped: dict[tuple, list[str]] = {}  # (day, name, trading) → store codes: one line per holiday, not store
        for s in holiday_stores:
            for row in store_holidays(store=s, start=today, end=today + timedelta(days=HOLIDAY_DAYS)):
                grouped.setdefault((row["date"], row["name"], row["trading"]), []).append(s.code)
        holidays = [
            {"date": day, "name": name, "trading": trading,
             "stores": "every store" if len(codes) == len(holiday_stores) > 1 else ", ".join(codes)}
            for (day, name, trading), codes in sorted(grouped.items())
        ]  # fmt: skip
        ctx.update(
            today=today,
            stores=stores,
            store=store,
            running=[p for p in promos.filter(start__lte=today, end__gte=today).order_by("end")],
            coming=list(promos.filter(start__gt=today).order_by("start")[:50]),
            past=list(promos.filter(end__lt=today, end__gte=today - timedelta(days=PAST_DAYS)).order_by("-end")[:50]),
            closures_coming=list(closures.filter(date__gte=today).order_by("date")[:50]),
            closures_past=list(closures.filter(date__lt=today).order_by("-date")[:20]),
            to_confirm=[w for w in weekly if not w.confirmed],
            weekly=[w for w in weekly if w.confirmed],
            holidays=holidays,
            form=kwargs.get("form") or (PromotionForm() if user.has_perm("forecasting.add_promotion") else None),
            import_form=CalendarImportForm() if user.has_perm("forecasting.add_promotion") else None,
            import_errors=kwargs.get("import_errors", []),
            columns=COLUMNS,
        )
        return ctx


class PromotionAddView(RolePermissionMixin, View):
    permission_required = "forecasting.add_promotion"

    def post(self, request):
        form = PromotionForm(request.POST)
        if not form.is_valid():
            view = CalendarView(request=request, kwargs={}, args=())
            view.setup(request)
            return view.render_to_response(view.get_context_data(form=form), status=400)
        promo = form.save(commit=False)
        promo.created_by = request.user
        promo.save()
        form.save_m2m()
        messages.success(request, f"Promotion “{promo.name}” saved: {promo.start:%d %b} – {promo.end:%d %b %Y}, "
                         f"{promo.discount_label}.")  # fmt: skip
        return redirect("forecasting:calendar")


class ClosingDayConfirmView(RolePermissionMixin, View):
    permission_required = "forecasting.change_weeklyclosingday"

    def post(self, request, pk: int):
        day = get_object_or_404(WeeklyClosingDay.objects.for_user(request.user), pk=pk)
        confirmed = request.POST.get("decision") != "reject"
        closing_day_confirm(closing_day_id=day.pk, user=request.user, confirmed=confirmed)
        what = "confirmed: forecasts will put nothing on it" if confirmed else "dismissed"
        messages.success(request, f"{day.store.code} closed on {day.get_weekday_display()}s — {what}.")
        return redirect("forecasting:calendar")


class CalendarImportView(RolePermissionMixin, View):
    permission_required = ("forecasting.add_promotion", "forecasting.add_storeclosure")

    def post(self, request):
        form = CalendarImportForm(request.POST, request.FILES)
        errors: list[str] = []
        if not form.is_valid():
            errors = ["Choose a CSV file to upload."]
        else:
            try:
                result = calendar_import(content=form.cleaned_data["file"].read(), user=request.user)
            except (CalendarImportError, UnicodeDecodeError, ValidationError) as exc:
                errors = getattr(exc, "errors", None) or ["The file is not a UTF-8 CSV."]
            else:
                messages.success(
                    request, f"Imported {result.promotions} promotion(s) and {result.closures} closure day(s)."
                )
                return redirect("forecasting:calendar")
        view = CalendarView(request=request, kwargs={}, args=())
        view.setup(request)
        return view.render_to_response(
            view.get_context_data(import_errors=["Nothing was imported.", *errors]), status=400
        )
