"""Data: the beat entries of the loyalty and customer-model nightly work (editable in the admin)."""

from django.db import migrations

TASKS = [
    (
        "customers: expire points",
        "customers.expire_points",
        "15",
        "1",
        "Posts an expiry entry for earned points older than POINTS_EXPIRY_DAYS that were not used (FIFO).",
    ),
    (
        "customers: requalify loyalty tiers",
        "customers.requalify_tiers",
        "30",
        "1",
        "Moves every customer to the tier their spend over the trailing window earns (up or down).",
    ),
    (
        "customers: train and score the customer models",
        "customers.train_customer_models_nightly",
        "45",
        "2",
        "Trains the spend, discount and stock-exposure models on a cut-off and scores every customer.",
    ),
]


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute, hour, description in TASKS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*"
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "enabled": True, "description": description}
        )


def backwards(apps, schema_editor):
    names = [name for name, *_ in TASKS]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_model_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
