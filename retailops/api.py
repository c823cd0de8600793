"""API glue: domain ValidationErrors become 400 with a readable body, never a 500; paging that answers a nonsense
`page` or `page_size` with 400 naming it."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def validation_messages(exc: DjangoValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{k}: {m}" if k != "__all__" else m for k, ms in exc.message_dict.items() for m in ms]
    return list(exc.messages)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        code = status.HTTP_409_CONFLICT if getattr(exc, "http_status", 400) == 409 else status.HTTP_400_BAD_REQUEST
        return Response({"detail": " ".join(validation_messages(exc)), "errors": validation_messages(exc)}, status=code)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc) or "Permission denied."}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)


def _whole_number(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


class Pagination(PageNumberPagination):
    """Pages of 50 (`?page_size=` up to 500: a larger one is clamped to 500). A page or page size that is not a
    whole number from 1 is answered 400 naming the parameter; a page past the last one, 404."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = _whole_number(raw)
        if not size:
            raise ValidationError(
                {self.page_size_query_param: [f"Enter a whole number of rows from 1 to {self.max_page_size}."]}
            )
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw.strip() not in self.last_page_strings and not _whole_number(raw):
            raise ValidationError({self.page_query_param: ["Enter a page number: 1, 2, 3 … (or “last”)."]})
        return super().paginate_queryset(queryset, request, view)
