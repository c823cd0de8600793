"""Store scope, in one place: which rows of store data a user may see.

The rule: a user with `inventory.view_all_stores` (owners, accountants) sees every store; anyone else sees
the stores of their `StoreMembership`s (staff, and a POS device, which is bound to exactly one store); an
anonymous user sees nothing.

Every model that holds store data gets `Model.objects.for_user(user)` from a `StoreScopedQuerySet` whose
`store_path` says how a row reaches its store ("store", "sale__store", "count__store", …; "" for Store
itself). Views, viewsets, exports, selectors and admins list store data through it and filter by hand
nowhere (`inventory/tests/test_scoping.py` walks the code for that). `inventory.selectors.stores_visible`
is `Store.objects.for_user(user)`, kept for the store pickers.

This module imports no model (inventory.models uses it): the rule reads the user's memberships through
`user.store_memberships` and filters `<store_path>__in=` that subquery — no join, so no row is repeated and
an annotation over the store's relations (e.g. Count("memberships")) is not narrowed by the scope.
"""

from __future__ import annotations

from django.db import models

ALL_STORES_PERMISSION = "inventory.view_all_stores"


def sees_every_store(user) -> bool:
    """True for a logged-in user (or token) with inventory.view_all_stores."""
    return bool(user is not None and user.is_authenticated and user.has_perm(ALL_STORES_PERMISSION))


def member_store_ids(user) -> set[int]:
    """The ids of the stores a user belongs to (their StoreMemberships); empty when anonymous."""
    if user is None or not user.is_authenticated:
        return set()
    return set(user.store_memberships.values_list("store_id", flat=True))


class StoreScopedQuerySet(models.QuerySet):
    """A queryset of rows that belong to a store; subclasses set `store_path` when the store is further away."""

    store_path = "store"

    def for_user(self, user):
        """The rows of the stores `user` may see (every row with inventory.view_all_stores)."""
        if user is None or not user.is_authenticated:
            return self.none()
        if sees_every_store(user):
            return self.all()
        return self.filter(**{f"{self.store_path or 'pk'}__in": user.store_memberships.values("store_id")})


class StoreQuerySet(StoreScopedQuerySet):
    store_path = ""


class ForecastRunScopedQuerySet(models.QuerySet):
    """Forecast runs listed by the stores they cover (`store_ids`, a JSON list; empty = every store).

    A user who sees every store sees every run; anyone else only the runs whose stores are all theirs —
    a chain-wide run, or one that also covers another store, is not listed to them. (Their forecast
    pages still read the current run per store, chain-wide ones included: forecasting.selectors.)
    """

    def for_user(self, user):
        if user is None or not user.is_authenticated:
            return self.none()
        if sees_every_store(user):
            return self.all()
        mine = member_store_ids(user)
        if not mine:
            return self.none()
        # JSON containment is not portable (SQLite has none), and runs are few: decide in Python, by id.
        covered = [pk for pk, ids in self.values_list("pk", "store_ids") if ids and {int(i) for i in ids} <= mine]
        return self.filter(pk__in=covered)


class StoreScopedAdminMixin:
    """For a ModelAdmin of store data: its lists, searches and change pages go through `for_user` (owners see
    every row because they see every store, not because the admin skips the rule)."""

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)  # type: ignore[misc]
