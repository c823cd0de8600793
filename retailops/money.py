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


def currency_notices(stores) -> list[str]:
    """What an owner must know before adding these stores' money up: RetailOps keeps no exchange rates, so a
    selection of stores trading in other currencies is added at face value and shown with one symbol."""
    base = settings.RETAILOPS["CURRENCY"]
    symbol = settings.RETAILOPS["CURRENCY_SYMBOL"]
    by_currency: dict[str, list[str]] = {}
    for store in stores:
        by_currency.setdefault(store.currency, []).append(store.code)
    others = {c: codes for c, codes in by_currency.items() if c != base}
    if not others:
        return []
    listed = "; ".join(f"{c}: {', '.join(codes[:6])}{' …' if len(codes) > 6 else ''}" for c, codes in others.items())
    if len(by_currency) == 1:
        return [f"These stores trade in {next(iter(others))} ({listed}): their amounts are shown with {symbol}."]
    return [
        f"These stores trade in more than one currency ({listed}; the rest {base}). Totals and rankings add their "
        f"amounts at face value, with no exchange rate, and show them with {symbol}: choose one currency's stores "
        "(a chain, say) for figures you can bank."
    ]
