"""Inventory pages: stores, products and the home page's stock-alert panel."""

from django.db.models import Count
from django.views.generic import ListView, TemplateView

from retailops.permissions import RolePermissionMixin

from .models import Category
from .selectors import product_list, stock_alerts, stores_visible, user_can_see_costs


class StoreListView(RolePermissionMixin, ListView):
    permission_required = "inventory.view_store"
    template_name = "inventory/store_list.html"
    context_object_name = "stores"

    def get_queryset(self):
        return stores_visible(user=self.request.user).annotate(staff_count=Count("memberships")).order_by(
            "chain", "code"
        )


class ProductListView(RolePermissionMixin, ListView):
    permission_required = "inventory.view_product"
    template_name = "inventory/product_list.html"
    context_object_name = "products"
    paginate_by = 50

    def get_queryset(self):
        category = self.request.GET.get("category") or ""
        return product_list(
            search=self.request.GET.get("q", "").strip(),
            category_id=int(category) if category.isdigit() else None,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["show_costs"] = user_can_see_costs(user=self.request.user)
        context["categories"] = Category.objects.filter(parent__isnull=True).order_by("name")
        context["q"] = self.request.GET.get("q", "")
        context["category"] = self.request.GET.get("category", "")
        return context

    def get_template_names(self):
        if self.request.htmx and not self.request.htmx.boosted:
            return ["inventory/partials/_product_table.html"]
        return [self.template_name]


class StockAlertsPartialView(RolePermissionMixin, TemplateView):
    """Home-page panel: stock at or below its reorder point, or negative, in the user's stores."""

    permission_required = "inventory.view_stocklevel"
    template_name = "inventory/partials/_stock_alerts.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["alerts"] = stock_alerts(user=self.request.user)
        return context
