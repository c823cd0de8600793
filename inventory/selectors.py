"""Read queries shared by pages, the API and tasks."""

from __future__ import annotations

from django.db.models import F, QuerySet

from .models import Product, StockLevel, Store


def stores_visible(*, user) -> QuerySet[Store]:
    """Stores a user may see: every store with inventory.view_all_stores, else their memberships."""
    if not user.is_authenticated:
        return Store.objects.none()
    if user.has_perm("inventory.view_all_stores"):
        return Store.objects.all()
    return Store.objects.filter(memberships__user=user)


def store_ids_visible(*, user) -> set[int]:
    return set(stores_visible(user=user).values_list("pk", flat=True))


def user_can_see_costs(*, user) -> bool:
    return user.has_perm("inventory.view_cost")


def product_list(*, search: str = "", category_id: int | None = None) -> QuerySet[Product]:
    qs = Product.objects.select_related("category", "category__parent", "supplier")
    if search:
        from django.db.models import Q

        qs = qs.filter(Q(sku__icontains=search) | Q(name__icontains=search) | Q(barcode=search))
    if category_id:
        from django.db.models import Q

        qs = qs.filter(Q(category_id=category_id) | Q(category__parent_id=category_id))
    return qs


def stock_alerts(*, user, limit: int = 20) -> QuerySet[StockLevel]:
    """Stock levels at or below their reorder point, or negative, in the stores the user may see."""
    from django.db.models import Q

    return (
        StockLevel.objects.filter(store__in=stores_visible(user=user), product__active=True)
        .filter(Q(on_hand__lt=0) | Q(min_qty__isnull=False, on_hand__lte=F("min_qty")))
        .select_related("store", "product")
        .order_by("on_hand", "store__code", "product__sku")[:limit]
    )
