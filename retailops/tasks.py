"""Project-level Celery tasks (no app code): a self-test that proves broker and worker are wired."""

from pathlib import Path

from celery import shared_task


@shared_task(name="retailops.selftest")
def selftest_task(marker_path: str, text: str) -> str:
    """Write `text` to `marker_path`; used by the deployment self-test and the test suite."""
    Path(marker_path).write_text(text)
    return text
