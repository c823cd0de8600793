"""Data: the two built-in column mappings, and the beat entry that scans the watch folder.

The watch-folder task is enabled only when settings.RETAILOPS["WATCH_FOLDER"] is set at migrate
time; owners can switch it on later in the admin (Periodic tasks).
"""

from django.conf import settings
from django.db import migrations

WATCH_TASK_NAME = "sales: import files from the watch folder"

MAPPINGS = {
    "RetailOps CSV": {
        "columns": {
            f: f
            for f in (
                "pos_reference", "sku", "quantity", "unit_price", "occurred_at", "store", "customer",
                "description", "payment_method", "kind", "original_reference",
            )
        },
        "date_format": "",
        "options": {},
    },
    "Online Retail (UCI)": {
        "columns": {
            "pos_reference": "InvoiceNo",
            "sku": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "occurred_at": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer": "CustomerID",
            "store": "Country",
        },
        "date_format": "%m/%d/%Y %H:%M",
        "options": {
            "store_mode": "single",
            "store_code": "ONLINE",
            "store_name": "Online shop",
            "create_stores": True,
            "unknown_products": "create",
            "customers": "create",
            "return_prefix": "C",
            "reject_prefixes": {"A": "a bad-debt adjustment, not a sale: book it in the accounts"},
            "service_codes": ["POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK"],
            "service_prefixes": ["GIFT_"],
            "services": "post",
            "adjustments": "post",
            "duplicate_lines": "skip",
        },
    },
}


def forwards(apps, schema_editor):
    ColumnMapping = apps.get_model("sales", "ColumnMapping")
    for name, spec in MAPPINGS.items():
        ColumnMapping.objects.get_or_create(name=name, defaults=spec)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=WATCH_TASK_NAME,
        defaults={
            "task": "sales.watch_folder_scan",
            "interval": every,
            "enabled": bool(settings.RETAILOPS.get("WATCH_FOLDER")),
            "description": "Imports POS files dropped into RETAILOPS_WATCH_FOLDER and moves them to done/ or failed/.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=WATCH_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0002_ingestion"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
