"""Domain errors of the inventory app; views turn them into messages, the API into 400 / 409."""

from django.core.exceptions import ValidationError


class InventoryError(ValidationError):
    """Base: a business rule refused the change. Nothing was written."""


class StoreNotAllowed(InventoryError):
    pass


class CountNotOpen(InventoryError):
    """The count is submitted, reconciled, rejected or cancelled: it takes no more changes (API: 409)."""

    http_status = 409


class CountAlreadyReconciled(CountNotOpen):
    http_status = 409


class UnknownCode(InventoryError):
    """A scanned code matched no product."""


class ReceiptRejected(InventoryError):
    pass
