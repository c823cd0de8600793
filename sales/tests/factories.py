"""Helpers to post sales through the real service (sales are never created behind its back)."""

from decimal import Decimal

from django.utils import timezone

from sales.services import LineInput, ReceiptInput, sale_record

_counter = {"n": 0}


def post_sale(
    *, store, lines, customer=None, when=None, kind="sale", payment="card", ref=None, redeemed=0, original=""
):
    """lines: [(product, qty, unit_price or None for MRP)]. Returns the Sale. A return names its original
    receipt (original: its POS reference) or, without one, is a no-receipt refund (posted with no actor)."""
    _counter["n"] += 1
    receipt = ReceiptInput(
        store=store,
        pos_reference=ref or f"T{_counter['n']:07d}",
        occurred_at=when or timezone.now(),
        kind=kind,
        payment_method=payment,
        customer=customer,
        points_redeemed=redeemed,
        original_reference=original,
        no_receipt=kind == "return" and not original,
        lines=[
            LineInput(product=p, quantity=Decimal(q), unit_price=Decimal(price) if price is not None else p.mrp)
            for p, q, price in lines
        ],
    )
    return sale_record(receipt=receipt).sale
