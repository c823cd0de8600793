from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, verbosity=1, **kwargs):
    from .roles import roles_sync  # noqa: PLC0415 — app registry not ready in apps.py: roles imports django.contrib.auth.models

    roles_sync(verbosity=0)


class RetailopsConfig(AppConfig):
    name = "retailops"
    verbose_name = "RetailOps"

    def ready(self) -> None:
        # Listed last in INSTALLED_APPS: when this fires, every app's permissions exist.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="retailops_sync_roles")
