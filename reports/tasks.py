"""Celery tasks of the reports app: thin, they call reports.insights_mail."""

from celery import shared_task

from . import insights_mail


@shared_task
def insights_weekly_task() -> int:
    """Monday 07:30 (beat, editable in the admin) and the page's "send now": last week's insights e-mail."""
    return insights_mail.insights_email_send()
