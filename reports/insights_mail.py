"""The weekly insights e-mail: last week's report, HTML body and the PDF attached, to each owner and accountant,
each about the stores they see (beat: Monday 07:30, reports migration 0001; "send now" on the page)."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from .insights import insights_report, last_week, week_filters
from .insights_pdf import insights_pdf
from .models import InsightsEmailSent

RECIPIENT_PERM = ("sales", "view_profit")  # owners and accountants: whoever may open the report


def recipients() -> list:
    """Active users with an e-mail address who may open the report (sales.view_profit), superusers included."""
    app_label, codename = RECIPIENT_PERM
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    users = get_user_model().objects.filter(
        Q(user_permissions__in=perm) | Q(groups__permissions__in=perm) | Q(is_superuser=True)
    )
    return [
        u
        for u in users.filter(is_active=True).exclude(email="").distinct().order_by("pk")
        if u.has_perm(f"{app_label}.{codename}")
    ]


def insights_email_render(*, user, today: date | None = None) -> dict:
    """Subject, text, HTML and PDF of last week's report for `user` (their stores only)."""
    f = week_filters(user=user, today=today or timezone.localdate())
    report = insights_report(user=user, f=f)
    ctx = {"report": report, "f": f, "user": user, "site": settings.RETAILOPS["SITE_URL"].rstrip("/")}
    return {
        "subject": f"Insights for the week {f.start:%d %b} – {f.end:%d %b %Y}",
        "text": render_to_string("emails/insights.txt", ctx),
        "html": render_to_string("emails/insights.html", ctx),
        "pdf": insights_pdf(report, title="Weekly insights"),
        "filename": f"insights-{f.start:%Y%m%d}-{f.end:%Y%m%d}.pdf",
    }


def insights_email_send(*, today: date | None = None, force: bool = False) -> int:
    """E-mail last week's report to every recipient; returns how many were sent by this call.

    Safe to run twice (Celery re-delivers a task whose worker died: acks late): a scheduled run skips each user
    who already has an `InsightsEmailSent` row for the week, so a re-delivery resumes where the dead run stopped.
    The row is the claim: it is inserted, then the e-mail sent, in one transaction; a send that raises rolls it
    back (that user is tried again next time). Two deliveries racing for one user: the second INSERT waits for the
    first transaction (PostgreSQL's unique index) and then fails, so it skips the user (on SQLite the write lock
    serialises them, or the second fails with "database is locked": no double send either way). `force` ("send
    now" on the page) sends to everyone and only logs (a manual row).

    The window left: the mail server took the message but the process died (or the commit failed) before the
    COMMIT, so the row is lost and the re-delivered task sends that one user the week again (at least once,
    never zero). A forced run delivered twice sends twice (it asks for no claim)."""
    today = today or timezone.localdate()
    week_start = last_week(today)[0]  # == week_filters(user=…, today=today).start for every user
    trigger = InsightsEmailSent.Trigger.MANUAL if force else InsightsEmailSent.Trigger.SCHEDULED
    sent = 0
    for user in recipients():
        if not force and InsightsEmailSent.objects.filter(user=user, week_start=week_start).exists():
            continue  # this week's e-mail went out already (scheduled, or sent now)
        mail_ = insights_email_render(user=user, today=today)  # the PDF: rendered before the claim is taken
        message = EmailMultiAlternatives(mail_["subject"], mail_["text"], None, [user.email])
        message.attach_alternative(mail_["html"], "text/html")
        message.attach(mail_["filename"], mail_["pdf"], "application/pdf")
        with transaction.atomic():
            if force:
                InsightsEmailSent.objects.create(user=user, week_start=week_start, trigger=trigger)
            else:
                _, claimed = InsightsEmailSent.objects.get_or_create(user=user, week_start=week_start, trigger=trigger)
                if not claimed:
                    continue  # another delivery sent it meanwhile
            sent += message.send()
    return sent
