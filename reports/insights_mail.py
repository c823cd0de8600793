"""The weekly insights e-mail: last week's report, HTML body and the PDF attached, to each owner and accountant,
each about the stores they see (beat: Monday 07:30, reports migration 0001; "send now" on the page)."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from .insights import insights_report, week_filters
from .insights_pdf import insights_pdf

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


def insights_email_send(*, today: date | None = None) -> int:
    """E-mail last week's report to every recipient; returns how many were sent."""
    sent = 0
    for user in recipients():
        mail_ = insights_email_render(user=user, today=today)
        message = EmailMultiAlternatives(mail_["subject"], mail_["text"], None, [user.email])
        message.attach_alternative(mail_["html"], "text/html")
        message.attach(mail_["filename"], mail_["pdf"], "application/pdf")
        sent += message.send()
    return sent
