"""Domain errors of the sales app."""

from django.core.exceptions import ValidationError


class ReceiptConflict(ValidationError):
    """The store already has a receipt with this POS reference, with other content."""
