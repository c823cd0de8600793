"""manage.py bi_setup [--role retailops_bi] [--password …]: the bi schema of read-only views and a BI login role.

PostgreSQL only. The password comes from --password or RETAILOPS_BI_PASSWORD; a role without one is refused.
Run it again after a deploy (the views are rebuilt from reports/bi.py) or to change the password. See docs/bi.md.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from reports import bi


class Command(BaseCommand):
    help = "Create (again) the read-only bi schema of reporting views and the BI tools' login role (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--role", default=bi.DEFAULT_ROLE, help=f"Login role to create (default {bi.DEFAULT_ROLE})."
        )
        parser.add_argument(
            "--password", default="", help="Its password (default: the environment variable RETAILOPS_BI_PASSWORD)."
        )

    def handle(self, *args, **opts):
        password = opts["password"] or os.environ.get("RETAILOPS_BI_PASSWORD", "")
        try:
            done = bi.setup(role=opts["role"], password=password)
        except bi.BiSetupError as exc:
            raise CommandError(str(exc)) from exc
        for line in done:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"BI access ready: connect as {opts['role']} and read the bi schema."))
