"""Money and quantity helpers shared by every app. Imports no app."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

CENT = Decimal("0.01")
ZERO = Decimal("0")


def money(value) -> Decimal:
    """Round to cents, half up, the way a till rounds."""
    if value is None:
        return ZERO.quantize(CENT)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def currency_symbol() -> str:
    return settings.RETAILOPS["CURRENCY_SYMBOL"]


def format_money(value) -> str:
    """`£1,234.50`, or `-£12.00`; blank for None."""
    if value is None:
        return ""
    amount = money(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency_symbol()}{abs(amount):,.2f}"
