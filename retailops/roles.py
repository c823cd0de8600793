"""The three roles of DESIGN §8 as Django groups, and the permissions each holds.

roles_sync() is idempotent; it runs after every `migrate` (see apps.py) and from `manage.py
sync_roles`. Code checks permissions, never group names.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

STAFF = "staff"
OWNER = "owner"
ACCOUNTANT = "accountant"

PROJECT_APPS = ("inventory", "customers", "sales", "forecasting")

# Staff count the shelves of their own stores and read sales, stock and forecasts there — no costs.
STAFF_PERMS = [
    "inventory.view_store",
    "inventory.view_category",
    "inventory.view_product",
    "inventory.view_supplier",
    "inventory.view_stocklevel",
    "inventory.view_stockcount",
    "inventory.add_stockcount",
    "inventory.change_stockcount",
    "inventory.view_stockcountline",
    "inventory.add_stockcountline",
    "inventory.change_stockcountline",
    "sales.view_sale",
    "sales.view_salesdaily",
    "sales.view_storedaily",
    "forecasting.view_demandforecast",
    "forecasting.view_reordersuggestion",
    "forecasting.view_forecastrun",
    # the retail calendar (issue 18): staff read the promotions, closures and holidays of their stores
    "forecasting.view_promotion",
    "forecasting.view_storeclosure",
    "forecasting.view_weeklyclosingday",
    "forecasting.view_holidayoverride",
]

# Accountants read everything with costs, and export; they change nothing and see no personal data.
ACCOUNTANT_EXTRA = [
    "inventory.view_all_stores",
    "inventory.view_cost",
    "sales.view_profit",
    "sales.export_reports",
]
ACCOUNTANT_EXCLUDE = {"customers.view_customer_pii"}
ACCOUNTANT_WRITE = []  # read-only role

# Owners: every permission of the project's apps, users and settings, and the admin site — including axes' login
# attempts, so an owner can unlock a locked-out user.
OWNER_EXTRA_APPS = ("auth", "authtoken", "django_celery_beat", "axes", "retailops")  # retailops: the task outbox


def role_permissions() -> dict[str, set[str]]:
    all_perms = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=PROJECT_APPS + OWNER_EXTRA_APPS
        )
    }
    project_views = {p for p in all_perms if p.split(".")[0] in PROJECT_APPS and p.split(".")[1].startswith("view_")}
    staff = {p for p in STAFF_PERMS if p in all_perms}
    accountant = (project_views | set(ACCOUNTANT_EXTRA)) - ACCOUNTANT_EXCLUDE
    owner = set(all_perms)
    return {
        STAFF: staff,
        OWNER: owner,
        ACCOUNTANT: {p for p in accountant if p in all_perms},
    }


def roles_sync(verbosity: int = 0) -> None:
    """Create the groups and set exactly the permissions of each role (idempotent)."""

    lookup = {
        f"{p.content_type.app_label}.{p.codename}": p for p in Permission.objects.select_related("content_type").all()
    }
    for name, codes in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([lookup[c] for c in codes if c in lookup])
        if verbosity:
            print(f"role {name}: {len(codes)} permissions")
