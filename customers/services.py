"""Writes to the points ledger and customer records.

The points balance on Customer is a cache of Σ PointsEntry.points; it changes only here, with
F() on a row locked by select_for_update(), in the same transaction as the ledger entry.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from .exceptions import InsufficientPoints
from .models import Customer, LoyaltyTier, PointsEntry, TierChange


def points_for_amount(*, amount: Decimal, tier: LoyaltyTier | None) -> int:
    """Whole points earned for spending `amount`: POINTS_PER_UNIT per currency unit × tier multiplier."""
    if amount <= 0:
        return 0
    multiplier = tier.points_multiplier if tier else Decimal("1")
    raw = Decimal(amount) * settings.RETAILOPS["POINTS_PER_UNIT"] * multiplier
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def point_value() -> Decimal:
    return Decimal(settings.RETAILOPS["POINT_VALUE"])


def _post(
    *,
    customer: Customer,
    kind: str,
    points: int,
    occurred_at: datetime | None,
    store=None,
    source_type: str = "",
    source_id: int | None = None,
    user=None,
    note: str = "",
    expires_at: datetime | None = None,
) -> PointsEntry:
    if points == 0:
        raise ValidationError("A points entry needs a non-zero number of points.")
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.anonymised_at:
            raise ValidationError("This customer was deleted on request and cannot collect points.")
        if locked.points_balance + points < 0:
            raise InsufficientPoints(
                f"Customer {locked.code} has {locked.points_balance} points; cannot take {-points}."
            )
        try:
            with transaction.atomic():
                entry = PointsEntry.objects.create(
                    customer=locked,
                    kind=kind,
                    points=points,
                    store=store,
                    source_type=source_type,
                    source_id=source_id,
                    occurred_at=occurred_at or timezone.now(),
                    expires_at=expires_at,
                    user=user,
                    note=note[:200],
                )
        except IntegrityError as exc:
            raise ValidationError("These points were already posted for this source.") from exc
        Customer.objects.filter(pk=locked.pk).update(points_balance=F("points_balance") + points)
    customer.refresh_from_db(fields=["points_balance"])
    return entry


def points_earn(
    *, customer: Customer, points: int, occurred_at=None, store=None, source_type="", source_id=None, user=None
) -> PointsEntry:
    """Credit earned points (atomic, once per source); they expire after POINTS_EXPIRY_DAYS."""
    if points <= 0:
        raise ValidationError("Earned points must be positive.")
    occurred_at = occurred_at or timezone.now()
    expires_at = occurred_at + timedelta(days=settings.RETAILOPS["POINTS_EXPIRY_DAYS"])
    return _post(
        customer=customer,
        kind=PointsEntry.Kind.EARN,
        points=points,
        occurred_at=occurred_at,
        store=store,
        source_type=source_type,
        source_id=source_id,
        user=user,
        expires_at=expires_at,
    )


def points_redeem(
    *, customer: Customer, points: int, occurred_at=None, store=None, source_type="", source_id=None, user=None
) -> PointsEntry:
    """Debit redeemed points (atomic). Raises InsufficientPoints when the balance is too small."""
    if points <= 0:
        raise ValidationError("Redeemed points must be positive.")
    return _post(
        customer=customer,
        kind=PointsEntry.Kind.REDEEM,
        points=-points,
        occurred_at=occurred_at,
        store=store,
        source_type=source_type,
        source_id=source_id,
        user=user,
    )


def points_adjust(*, customer: Customer, points: int, user, note: str) -> PointsEntry:
    """A manual correction with a reason; cannot take the balance below zero."""
    if not note.strip():
        raise ValidationError("A points adjustment needs a reason.")
    return _post(customer=customer, kind=PointsEntry.Kind.ADJUST, points=points, occurred_at=None, user=user, note=note)


def points_balance_from_ledger(*, customer: Customer) -> int:
    return customer.points_entries.aggregate(total=Sum("points"))["total"] or 0


# --------------------------------------------------------------------------------------------------
# Points expiry (FIFO)


@dataclass
class _Lot:
    store_id: int | None
    remaining: int
    expires_at: datetime | None


def earn_expiry(*, occurred_at: datetime, expires_at: datetime | None = None) -> datetime:
    """When earned points lapse: their own expires_at, else POINTS_EXPIRY_DAYS after they were earned.

    Every earn entry the services write carries expires_at; the fallback makes an older row without
    one obey the same rule instead of living for ever."""
    return expires_at or occurred_at + timedelta(days=settings.RETAILOPS["POINTS_EXPIRY_DAYS"])


class PointsLotBook:
    """One customer's points as lots, replayed oldest first: the single rule for what is still live.

    Credits (earn, positive adjustments) are lots; an earn lot lapses at its expires_at (see
    earn_expiry), a credited lot without a date never lapses. Redemptions and negative adjustments
    spend the oldest live lots first (FIFO). A lapsed lot's remainder is *due*: expired, whether or not
    an "expire" entry has been posted yet. Posted expiry entries settle what was due at their store
    (then anywhere), and only what no due amount covers is taken from live lots. A redemption that
    needed more than the live lots (the till let stale points be spent before the job ran) takes the
    rest from the due amount, so those points are not expired a second time.

    `apply` returns what each entry did to the live points, as (kind, store id, signed points)
    movements, so a caller can tell liability flows from settlement: kind is earned, redeemed,
    adjusted or expired; `expire_until` returns the lapses as (store id, points). Cost is O(n log n)
    in the entries: lots are spent from a moving head, lapses come off a heap by date.
    """

    def __init__(self) -> None:
        self.lots: list[_Lot] = []
        self.due: dict[tuple, list] = {}  # (issuing store id, "YYYY-MM" of expiry) → [points, latest expiry]
        self._head = 0  # every lot before it is spent
        self._dated: list[tuple[datetime, int]] = []  # heap of (expires_at, lot index)

    def expire_until(self, moment: datetime) -> list[tuple[int | None, int]]:
        lapsed = []
        while self._dated and self._dated[0][0] <= moment:
            when, index = heapq.heappop(self._dated)
            lot = self.lots[index]
            if lot.remaining <= 0:
                continue
            slot = self.due.setdefault((lot.store_id, when.strftime("%Y-%m")), [0, when])
            slot[0] += lot.remaining
            slot[1] = max(slot[1], when)
            lapsed.append((lot.store_id, lot.remaining))
            lot.remaining = 0
        return lapsed

    def _take_due(self, amount: int, store_id=None) -> int:
        if amount <= 0 or not self.due:
            return amount
        for key in sorted(self.due, key=lambda k: self.due[k][1]):
            if amount <= 0:
                break
            if store_id is not None and key[0] != store_id:
                continue
            used = min(amount, self.due[key][0])
            self.due[key][0] -= used
            amount -= used
        return amount

    def _take_lots(self, amount: int) -> tuple[int, list[tuple[int | None, int]]]:
        taken = []
        while amount > 0 and self._head < len(self.lots):
            lot = self.lots[self._head]
            used = min(amount, lot.remaining)
            if used:
                lot.remaining -= used
                amount -= used
                taken.append((lot.store_id, used))
            if lot.remaining == 0:
                self._head += 1
        return amount, taken

    def apply(self, *, kind: str, points: int, store_id, occurred_at: datetime, expires_at) -> list[tuple]:
        """Replay one ledger entry (after lapsing what expired before it); see the class docstring."""
        if points > 0:
            if kind == PointsEntry.Kind.EARN:
                expires_at = earn_expiry(occurred_at=occurred_at, expires_at=expires_at)
            self.lots.append(_Lot(store_id, points, expires_at))
            if expires_at is not None:
                heapq.heappush(self._dated, (expires_at, len(self.lots) - 1))
            return [("earned" if kind == PointsEntry.Kind.EARN else "adjusted", store_id, points)]
        if kind == PointsEntry.Kind.EXPIRE:
            left = self._take_due(self._take_due(-points, store_id))
            _, taken = self._take_lots(left)
            return [("expired", lot_store, -used) for lot_store, used in taken]
        left, taken = self._take_lots(-points)
        self._take_due(left)
        flow = "redeemed" if kind == PointsEntry.Kind.REDEEM else "adjusted"
        # Spent points count against the store on the entry (where they were spent), whoever issued them.
        used = sum(u for _s, u in taken)
        return [(flow, store_id, -used)] if used else []

    def live(self) -> list[_Lot]:
        return [lot for lot in self.lots[self._head :] if lot.remaining > 0]

    def outstanding_due(self) -> dict[tuple, list]:
        return {k: v for k, v in self.due.items() if v[0] > 0}


def points_lots(*, entries, as_of: datetime) -> tuple[list[_Lot], dict[tuple, list]]:
    """Replay a customer's ledger (oldest first) up to `as_of` with PointsLotBook.

    Returns the lots still live at `as_of` and the points that expired without an expiry entry yet,
    keyed by (issuing store id, expiry month) with the latest expiry time of the key.
    """
    book = PointsLotBook()
    for entry in entries:
        if entry.occurred_at > as_of:
            break
        book.expire_until(entry.occurred_at)
        book.apply(
            kind=entry.kind,
            points=entry.points,
            store_id=entry.store_id,
            occurred_at=entry.occurred_at,
            expires_at=entry.expires_at,
        )
    book.expire_until(as_of)
    return book.live(), book.outstanding_due()


def points_expire(*, as_of: datetime | None = None, customer_ids=None) -> int:
    """Post expiry entries for earned points past their date that were not spent (FIFO). Idempotent.

    One "expire" entry per customer × issuing store × expiry month, dated at the last expiry it covers,
    so the liability at any month end is right even if the job did not run for a while. Running it
    again for the same moment posts nothing. Returns the number of points expired.
    """
    as_of = as_of or timezone.now()
    undated_before = as_of - timedelta(days=settings.RETAILOPS["POINTS_EXPIRY_DAYS"])
    candidates = PointsEntry.objects.filter(
        Q(expires_at__lte=as_of) | Q(expires_at__isnull=True, occurred_at__lte=undated_before),
        kind=PointsEntry.Kind.EARN,
    )
    if customer_ids is not None:
        candidates = candidates.filter(customer_id__in=list(customer_ids))
    ids = (
        Customer.objects.filter(
            pk__in=candidates.values("customer_id"), points_balance__gt=0, anonymised_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    total = 0
    for customer_id in ids:
        total += _expire_one(customer_id=customer_id, as_of=as_of)
    return total


def _expire_one(*, customer_id: int, as_of: datetime) -> int:
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer_id)
        entries = PointsEntry.objects.filter(customer_id=customer_id).only(
            "kind", "points", "store_id", "occurred_at", "expires_at"
        )
        _, due = points_lots(entries=entries, as_of=as_of)
        budget = locked.points_balance
        rows = []
        for (store_id, _month), (points, when) in sorted(due.items(), key=lambda kv: kv[1][1]):
            points = min(points, budget)
            if points <= 0:
                continue
            budget -= points
            rows.append(
                PointsEntry(
                    customer_id=customer_id,
                    kind=PointsEntry.Kind.EXPIRE,
                    points=-points,
                    store_id=store_id,
                    source_type="customers.expiry",
                    occurred_at=when,
                    note=f"Earned points older than {settings.RETAILOPS['POINTS_EXPIRY_DAYS']} days",
                )
            )
        if not rows:
            return 0
        PointsEntry.objects.bulk_create(rows)
        expired = -sum(r.points for r in rows)
        Customer.objects.filter(pk=customer_id).update(points_balance=F("points_balance") - expired)
    return expired


# --------------------------------------------------------------------------------------------------
# Loyalty tiers: requalification on a rolling window of spend


def tier_window_days() -> int:
    return int(settings.RETAILOPS.get("TIER_WINDOW_DAYS", 365))


def tier_for_spend(*, spend: Decimal, tiers: list[LoyaltyTier]) -> LoyaltyTier | None:
    """The best tier whose threshold the spend reaches (tiers of any order); None if none qualifies."""
    eligible = [t for t in tiers if spend >= t.threshold]
    return max(eligible, key=lambda t: t.rank) if eligible else None


def tier_expected(*, spend: Decimal, tiers: list[LoyaltyTier] | None = None) -> LoyaltyTier | None:
    """The tier rule: the best tier whose threshold the qualifying spend reaches.

    Qualifying spend = net spend (sales − returns, never below zero) over the TIER_WINDOW_DAYS (365) up
    to the moment of requalification. There is no grace period: tiers_requalify moves members up and
    down to this answer every night, so a tier shown is at most one nightly run old.
    """
    tiers = list(LoyaltyTier.objects.all()) if tiers is None else tiers
    return tier_for_spend(spend=max(spend, Decimal("0")), tiers=tiers)


def tiers_requalify(
    *, spend_by_customer: dict[int, Decimal], as_of: datetime | None = None, customer_ids=None
) -> dict[str, int]:
    """Move each active customer to the tier their trailing spend earns — up or down — with history.

    Idempotent: a customer already in the right tier is not touched. Each move writes a TierChange
    (from, to, the spend that decided it) and updates the customer in the same transaction. The spend
    (net, over the tier window ending at as_of) comes from the caller: sales keeps the receipts, so
    sales.services.customer_tiers_requalify reads it and calls this (customers never reads sales).
    """
    as_of = as_of or timezone.now()
    tiers = list(LoyaltyTier.objects.all())
    counts = {"upgraded": 0, "downgraded": 0, "unchanged": 0}
    if not tiers:
        return counts
    by_pk = {t.pk: t for t in tiers}
    spends = spend_by_customer
    customers = Customer.objects.filter(active=True, anonymised_at__isnull=True, merged_into__isnull=True)
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    for customer_id, tier_id in customers.values_list("pk", "tier_id").order_by("pk"):
        # A customer with only returns in the window has negative net spend: they count as zero.
        spend = max(spends.get(customer_id, Decimal("0")), Decimal("0"))
        target = tier_expected(spend=spend, tiers=tiers)
        if (target.pk if target else None) == tier_id:
            counts["unchanged"] += 1
            continue
        current = by_pk.get(tier_id)
        up = (target.rank if target else -1) > (current.rank if current else -1)
        _tier_move(customer_id=customer_id, target=target, spend=spend, as_of=as_of, up=up)
        counts["upgraded" if up else "downgraded"] += 1
    return counts


def _tier_move(*, customer_id: int, target: LoyaltyTier | None, spend: Decimal, as_of: datetime, up: bool) -> None:
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer_id)
        if locked.tier_id == (target.pk if target else None):
            return
        TierChange.objects.create(
            customer=locked,
            from_tier_id=locked.tier_id,
            to_tier=target,
            trailing_spend=spend,
            changed_at=as_of,
            reason=f"{'Upgrade' if up else 'Downgrade'}: spend over the last {tier_window_days()} days",
        )
        Customer.objects.filter(pk=customer_id).update(tier=target)


# --------------------------------------------------------------------------------------------------
# Merging duplicates and deletion on request


def customer_merge_lock(*, source: Customer, target: Customer) -> tuple[Customer, Customer]:
    """Lock both customers of a merge and check they may be merged; call it inside a transaction.

    Both rows are locked in id order, so two merges cannot deadlock. Returns (source, target) as locked.
    """
    if source.pk == target.pk:
        raise ValidationError("A customer cannot be merged into itself.")
    first, second = sorted([source.pk, target.pk])  # stable lock order: no deadlock between merges
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
    src, dst = locked[source.pk], locked[target.pk]
    for c in (src, dst):
        if c.anonymised_at:
            raise ValidationError(f"Customer {c.code} was deleted on request and cannot be merged.")
        if c.merged_into_id:
            raise ValidationError(f"Customer {c.code} was already merged into another customer.")
    return src, dst


def customer_merge_records(
    *, source: Customer, target: Customer, as_of: datetime, moved_sales: int = 0, actor=None
) -> None:
    """The customers' part of folding a duplicate into another, in one transaction.

    The entry point is sales.services.customer_merge, which locks both customers, re-points the
    duplicate's sales (`moved_sales` of them), calls this, then requalifies the target for its tier.
    Here the duplicate's live points move as a pair of ledger entries per lot (−n on the duplicate,
    +n on the target, same issuing store and expiry date), so both ledgers stay equal to their
    balances and the points keep their expiry; the duplicate is deactivated and remembers `merged_into`.
    """
    now = as_of
    with transaction.atomic():
        src, dst = customer_merge_lock(source=source, target=target)
        lots, _ = points_lots(entries=PointsEntry.objects.filter(customer=src), as_of=now)
        note = f"Merged {src.code} into {dst.code}"
        out, into = [], []
        for lot in lots:
            common = {"store_id": lot.store_id, "occurred_at": now, "user": actor, "note": note}
            out.append(PointsEntry(customer=src, kind=PointsEntry.Kind.ADJUST, points=-lot.remaining, **common))
            into.append(
                PointsEntry(
                    customer=dst,
                    kind=PointsEntry.Kind.ADJUST,
                    points=lot.remaining,
                    expires_at=lot.expires_at,
                    **common,
                )
            )
        moved = sum(lot.remaining for lot in lots)
        if moved != src.points_balance:
            # The lots come from the ledger; a cache that disagrees is a bug to fix first, not to paper over.
            raise ValidationError(
                f"{src.code}: points balance {src.points_balance} ≠ ledger lots {moved}; run a check."
            )
        PointsEntry.objects.bulk_create(out + into)
        Customer.objects.filter(pk=src.pk).update(
            points_balance=F("points_balance") - moved, merged_into=dst, active=False
        )
        Customer.objects.filter(pk=dst.pk).update(points_balance=F("points_balance") + moved)
        if not dst.home_store_id and src.home_store_id:
            Customer.objects.filter(pk=dst.pk).update(home_store_id=src.home_store_id)
        TierChange.objects.create(
            customer=dst,
            from_tier_id=dst.tier_id,
            to_tier_id=dst.tier_id,
            trailing_spend=Decimal("0"),
            changed_at=now,
            reason=f"Merged duplicate {src.code}: {moved_sales} sales, {moved} points moved"[:120],
        )


def customer_anonymise(*, customer: Customer, actor=None) -> Customer:
    """Delete a customer's personal data on request; keep their sales, anonymised. Atomic, once.

    Name, phone and e-mail are blanked and the code replaced by ANON-<id>; remaining points are
    forfeited with an adjustment entry (the ledger stays whole); the customer is deactivated and
    `anonymised_at` set. Sales keep pointing at the anonymous record, so totals and history stay right.
    """
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.anonymised_at:
            raise ValidationError("This customer's personal data was already deleted.")
        if locked.points_balance:
            PointsEntry.objects.create(
                customer=locked,
                kind=PointsEntry.Kind.ADJUST,
                points=-locked.points_balance,
                occurred_at=timezone.now(),
                user=actor,
                note="Points forfeited: customer deleted on request",
            )
        Customer.objects.filter(pk=locked.pk).update(
            name="",
            phone="",
            email="",
            code=f"ANON-{locked.pk}",
            active=False,
            points_balance=0,
            anonymised_at=timezone.now(),
        )
    customer.refresh_from_db()
    return customer
