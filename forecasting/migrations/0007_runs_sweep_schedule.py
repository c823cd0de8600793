"""The sweeper of lost work as a django-celery-beat periodic task (editable in the admin): every 60 s it
re-queues forecast chunks and takes over training runs whose worker stopped renewing its lease."""

import json

from django.db import migrations

NAME = "Sweep lost forecast chunks and training runs"
TASK = "forecasting.tasks.runs_sweep_task"
EVERY_SECONDS = 60


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": every,
            "args": json.dumps([]),
            "enabled": True,
            # a sweep still queued when the next one is due is dropped, not run twice in a row
            "expire_seconds": EVERY_SECONDS,
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("forecasting", "0006_chunk_lease"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
