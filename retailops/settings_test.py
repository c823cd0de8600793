"""The test suite's settings: the real settings (DEBUG off, as pytest-django runs them), with a throwaway key
and plain-HTTP cookies, because the suite's live servers, gunicorn and Chromium speak HTTP.

pytest-django imports the settings before any conftest.py runs, so these go in the settings module it names
(pyproject `DJANGO_SETTINGS_MODULE`). They are put in the environment, so that the processes a test starts
(gunicorn, Celery workers, manage.py) inherit the same key and the same cookie rule. Never a deployment's
settings: the key is new for every test run.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", "test-run-" + secrets.token_hex(32))
os.environ.setdefault("RETAILOPS_ALLOW_HTTP", "1")

from .settings import *  # noqa: E402, F403 — the real settings, after the two variables above
