"""Domain errors of the inventory app; views turn them into messages, the API into 400 / 409."""

from django.core.exceptions import ValidationError


class InventoryError(ValidationError):
    """Base: a business rule refused the change. Nothing was written."""


class StoreNotAllowed(InventoryError):
    pass


class CountNotOpen(InventoryError):
    pass


class CountAlreadyReconciled(InventoryError):
    pass


class ReceiptRejected(InventoryError):
    pass
