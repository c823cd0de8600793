"""API glue: domain ValidationErrors become 400 with a readable body, never a 500."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
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
