"""Celery tasks of the reports app: thin, they call reports.insights_mail."""

from celery import shared_task

from . import insights_mail


@shared_task
def insights_weekly_task(force: bool = False) -> int:
    """Monday 07:30 (beat, editable in the admin; no args) and the page's "send now" (`force`: sends even to whom
    this week's e-mail went already): last week's insights e-mail. A re-delivery skips whom it already reached."""
    return insights_mail.insights_email_send(force=force)
