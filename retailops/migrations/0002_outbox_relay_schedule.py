"""The outbox relay as a django-celery-beat periodic task (editable in the admin): every 10 s it publishes the
outbox messages that could not be sent when they were written (the broker was down)."""

import json

from django.db import migrations

NAME = "Outbox relay: publish queued tasks"
TASK = "retailops.outbox_relay"
EVERY_SECONDS = 10


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
            # relays piled up while no worker ran are dropped, not run one after another
            "expire_seconds": EVERY_SECONDS,
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("retailops", "0001_outbox"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
