"""Domain errors of the customers app."""

from django.core.exceptions import ValidationError


class InsufficientPoints(ValidationError):
    pass
