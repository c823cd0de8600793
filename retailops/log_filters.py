"""Logging filters: a refused request (403) is one line in the log, not a traceback.

django.request logs PermissionDenied with exc_info, so a crawl of pages a role may not see fills the
log with tracebacks of an expected outcome. 500s are left untouched (their traceback is the point).
"""

import logging


class ForbiddenOneLine(logging.Filter):
    """Rewrite django.request's 403 records as “METHOD PATH user=ID 403” with no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 403:
            return True
        request = getattr(record, "request", None)
        user = getattr(request, "user", None)
        user_id = user.pk if getattr(user, "is_authenticated", False) else "-"
        record.msg = "%s %s user=%s 403"
        record.args = (getattr(request, "method", "-"), getattr(request, "path", "-"), user_id)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
