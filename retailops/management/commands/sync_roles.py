from django.core.management.base import BaseCommand

from retailops.roles import roles_sync


class Command(BaseCommand):
    help = "Create or update the staff / owner / accountant groups and their permissions (idempotent)."

    def handle(self, *args, **options):
        roles_sync(verbosity=1)
