"""Reorder maths, pure Python (no ORM): min / max from the forecast and its measured error, cash budget,
rebalancing between stores. Every result carries the plain-text steps that produced it.

Policy (periodic review, min / max):
  protection period P = lead time L + review period R (the next chance to order is R days away)
  safety stock SS     = z(service level) × σ (daily RMSE of the backtest) × √P
  reorder point  s    = forecast over L + SS                      ("min")
  order-up-to    S    = forecast over L + forecast over R + SS    ("max")
  inventory position  = max(on hand, 0) + on order
  when position ≤ s: order S − position, rounded up to whole case packs, at least the minimum order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from statistics import NormalDist
from typing import Protocol

MAX_SERVICE_LEVEL = Decimal("0.999")
MIN_SERVICE_LEVEL = Decimal("0.50")
DEFAULT_SERVICE_LEVEL = Decimal("0.95")
ABC_SERVICE_LEVEL = {"A": Decimal("0.98"), "B": Decimal("0.95"), "C": Decimal("0.90")}
Q3 = Decimal("0.001")
CENT = Decimal("0.01")


# A season the models cannot see: they read the last 26 weeks, so a line that sold far more in the same weeks a
# year ago (Christmas, summer) is flagged — at least half as much again and this many units more.
SEASON_RATIO = 1.5
SEASON_MIN_UNITS = 5.0
SEASON_DAYS = 28  # compared over the forecast's next four weeks

# Stock health, one definition for the reorder lines and the inventory dashboard: more than a quarter of
# cover (when no order-up-to level is set) is overstock; a line with no sale for this long is dead stock.
OVERSTOCK_DAYS = 90
DEAD_STOCK_DAYS = 60


# The step of an explanation that names unit cost, cash and margin: only roles that see costs read it.
COST_STEP = "Cash needed "


def explanation_for(lines: list[str], *, costs: bool) -> list[str]:
    """A reorder line's explanation as a role may read it: without the cost step for roles that see no costs."""
    return list(lines) if costs else [line for line in lines if not line.startswith(COST_STEP)]


def season_turning(last_year: float, forecast: float) -> bool:
    """Did the same days last year sell clearly more than the forecast says they will?"""
    return last_year >= SEASON_RATIO * forecast and last_year - forecast >= SEASON_MIN_UNITS


def season_halfway(last_year: float, forecast: float) -> float:
    """What an order for a season coming back plans on: halfway between the forecast and last year's figure
    (bench/season.py: on the demo chain's past turns, closer to what sold than either side)."""
    return (last_year + forecast) / 2


def q3(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Q3, rounding=ROUND_HALF_UP)


def service_level_clean(value) -> tuple[Decimal, str]:
    """A usable service level and a message when it had to be changed (100 % is impossible: capped)."""
    if value is None or value == "":
        return DEFAULT_SERVICE_LEVEL, ""
    level = Decimal(str(value))
    if level > 1:  # given as a percentage
        level = level / 100
    if level >= 1:
        return MAX_SERVICE_LEVEL, (
            f"A service level of 100 % would need infinite safety stock; capped at {MAX_SERVICE_LEVEL:.1%}."
        )
    if level > MAX_SERVICE_LEVEL:
        return MAX_SERVICE_LEVEL, f"Service level capped at {MAX_SERVICE_LEVEL:.1%}."
    if level < MIN_SERVICE_LEVEL:
        return MIN_SERVICE_LEVEL, f"Service level raised to the minimum of {MIN_SERVICE_LEVEL:.0%}."
    return level, ""


def abc_classes(revenue_by_key: dict, a: float = 0.8, b: float = 0.95) -> dict:
    """ABC class per key from its share of revenue: A = top 80 %, B = next 15 %, C = the rest."""
    total = sum(max(float(v), 0.0) for v in revenue_by_key.values())
    out, running = {}, 0.0
    for key, value in sorted(revenue_by_key.items(), key=lambda kv: (-float(kv[1]), str(kv[0]))):
        share_before = running / total if total else 1.0
        out[key] = "A" if share_before < a else "B" if share_before < b else "C"
        running += max(float(value), 0.0)
    return out


@dataclass
class PolicyInput:
    on_hand: Decimal
    on_order: Decimal
    daily_forecast: list[float]
    forecast_error: float  # daily RMSE
    lead_time_days: int
    review_period_days: int = 7
    service_level: Decimal | float | None = None
    case_pack: int = 1
    min_order_qty: Decimal = Decimal("0")
    unit_cost: Decimal = Decimal("0")
    unit_price: Decimal = Decimal("0")
    manual_min: Decimal | None = None
    manual_max: Decimal | None = None


@dataclass
class PolicyResult:
    service_level: Decimal
    z: float
    forecast_lead_time: Decimal
    forecast_review: Decimal
    safety_stock: Decimal
    reorder_point: Decimal
    order_up_to: Decimal
    position: Decimal
    raw_quantity: Decimal
    quantity: Decimal
    cash_needed: Decimal
    margin_at_risk: Decimal
    explanation: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _demand_over(daily: list[float], start: int, days: int) -> float:
    """Σ forecast for days [start, start+days); beyond the forecast, repeat its last week's average."""
    if days <= 0:
        return 0.0
    tail = daily[-7:] if daily else [0.0]
    filler = sum(tail) / len(tail)
    return float(sum(daily[i] if i < len(daily) else filler for i in range(start, start + days)))


def expected_shortfall(stock: float, mean: float, spread: float) -> float:
    """Expected units of demand above ``stock`` when demand is normal (mean, spread): spread × G(k) with
    k = (stock − mean) ÷ spread and G the standard normal loss function φ(k) − k·(1 − Φ(k)). With no
    spread, the plain shortfall max(mean − stock, 0)."""
    if spread <= 0:
        return max(mean - stock, 0.0)
    k = (stock - mean) / spread
    unit = NormalDist()
    return spread * max(unit.pdf(k) - k * (1 - unit.cdf(k)), 0.0)


def reorder_policy(inp: PolicyInput) -> PolicyResult:
    """Reorder point, order-up-to level and the quantity to order for one store × product."""
    messages = []
    level, msg = service_level_clean(inp.service_level)
    if msg:
        messages.append(msg)
    lead = max(int(inp.lead_time_days or 0), 0)
    review = max(int(inp.review_period_days or 0), 0)
    case = max(int(inp.case_pack or 1), 1)
    z = NormalDist().inv_cdf(float(level))
    sigma = max(float(inp.forecast_error or 0.0), 0.0)
    d_lead = _demand_over(inp.daily_forecast, 0, lead)
    d_review = _demand_over(inp.daily_forecast, lead, review)
    safety = z * sigma * math.sqrt(lead + review)
    rop, s_max = q3(d_lead + safety), q3(d_lead + d_review + safety)
    steps = [
        f"Forecast over the {lead}-day lead time: {d_lead:.1f}; over the {review}-day review period: {d_review:.1f}.",
        f"Safety stock {safety:.1f} = z {z:.2f} (service level {level:.1%}) × daily forecast error {sigma:.2f}"
        f" × √{lead + review} days.",
    ]
    if inp.manual_min is not None:
        rop = Decimal(inp.manual_min)
        steps.append(f"Reorder point set by hand on the stock level: {rop:.0f}.")
    else:
        steps.append(f"Reorder point = lead-time forecast + safety stock = {rop:.1f}.")
    if inp.manual_max is not None:
        s_max = max(Decimal(inp.manual_max), rop)
        steps.append(f"Order-up-to level set by hand: {s_max:.0f}.")
    else:
        steps.append(f"Order-up-to level = reorder point + review-period forecast = {s_max:.1f}.")
    on_hand = Decimal(inp.on_hand)
    position = max(on_hand, Decimal("0")) + Decimal(inp.on_order)
    held = f"On hand {on_hand:.0f}" + (" (negative book stock counted as 0)" if on_hand < 0 else "")
    steps.append(f"{held} + on order {Decimal(inp.on_order):.0f} = inventory position {position:.0f}.")
    raw = Decimal("0")
    qty = Decimal("0")
    if position > rop:
        steps.append("The position is above the reorder point: nothing to order.")
    else:
        raw = q3(max(s_max - position, Decimal("0")))
        if raw <= 0:
            steps.append("No demand is expected: nothing to order.")
        else:
            cases = (raw / case).to_integral_value(rounding=ROUND_CEILING)
            qty = cases * case
            steps.append(f"Need {raw:.1f} to reach {s_max:.1f}; rounded up to {cases} case(s) of {case} = {qty:.0f}.")
            minimum = Decimal(inp.min_order_qty or 0)
            if qty < minimum:
                qty = (minimum / case).to_integral_value(rounding=ROUND_CEILING) * case
                steps.append(f"Raised to the minimum order of {minimum:.0f}: {qty:.0f}.")
    unit_cost = Decimal(inp.unit_cost)
    cash = (qty * unit_cost).quantize(CENT, rounding=ROUND_HALF_UP)
    # What the order saves: the expected units of demand over the protection period (lead time + review)
    # that the shelf could not serve without it, less those it could not serve with it, at the unit margin.
    unit_margin = max(Decimal(inp.unit_price) - unit_cost, Decimal("0"))
    margin = Decimal("0.00")
    if qty:
        mean, spread = d_lead + d_review, sigma * math.sqrt(lead + review)
        short_without = expected_shortfall(float(position), mean, spread)
        short_with = expected_shortfall(float(position + qty), mean, spread)
        saved = Decimal(str(round(short_without - short_with, 6)))
        margin = (saved * unit_margin).quantize(CENT, rounding=ROUND_HALF_UP)
        steps.append(
            f"{COST_STEP}{cash} at unit cost {unit_cost:.2f}. Over the {lead + review} days, expected sales missed "
            f"for lack of stock: {short_without:.1f} units without this order, {short_with:.1f} with it; "
            f"× unit margin {unit_margin:.2f} = margin protected ≈ {margin}."
        )
    return PolicyResult(
        service_level=level,
        z=z,
        forecast_lead_time=q3(d_lead),
        forecast_review=q3(d_review),
        safety_stock=q3(safety),
        reorder_point=rop,
        order_up_to=s_max,
        position=position,
        raw_quantity=raw,
        quantity=qty,
        cash_needed=cash,
        margin_at_risk=margin,
        explanation=steps,
        messages=messages,
    )


def budget_pick(lines: list[tuple], budget: Decimal) -> tuple[set, str]:
    """Pick lines (key, cash, margin) that protect the most margin per unit of cash within the budget.

    Greedy by margin ÷ cash (ties: cheaper first); a line that does not fit is skipped and cheaper
    ones may still fit. Returns (picked keys, message).
    """
    budget = Decimal(budget)
    if budget < 0:
        raise ValueError("A budget cannot be negative.")
    ranked = sorted(
        lines,
        key=lambda t: (-(Decimal(t[2]) / Decimal(t[1])) if Decimal(t[1]) > 0 else Decimal("-Infinity"), Decimal(t[1])),
    )
    left, picked = budget, set()
    for key, cash, _margin in ranked:
        cash = Decimal(cash)
        if cash <= left:
            picked.add(key)
            left -= cash
    spent = budget - left
    if budget == 0:
        message = "A budget of 0 buys nothing: every line that costs money is left out."
    else:
        message = f"{len(picked)} of {len(lines)} lines fit the budget of {budget:.2f} (spent {spent:.2f})."
    return picked, message


class TransferScope(Protocol):
    """What decides whether two stores may move stock to each other (a Store has these fields)."""

    chain: str
    currency: str
    transfer_group: str


def stores_can_transfer(a: TransferScope, b: TransferScope) -> bool:
    """Whether stock may move between two stores. Never across currencies: the ledger carries the sender's
    unit cost into the receiver's books unchanged. A store with a transfer group moves only within that group
    (it may span chains); without one, a store moves only within its chain."""
    if a.currency != b.currency:
        return False
    if a.transfer_group or b.transfer_group:
        return a.transfer_group == b.transfer_group
    return a.chain == b.chain


def ceil_to_case(quantity: Decimal, case_pack: int) -> Decimal:
    """The quantity rounded up to whole cases (0 stays 0)."""
    if quantity <= 0:
        return Decimal("0")
    case = max(int(case_pack or 1), 1)
    return (Decimal(quantity) / case).to_integral_value(rounding=ROUND_CEILING) * case


def buy_after_transfers(*, need: Decimal, transfers_in: Decimal, case_pack: int) -> Decimal:
    """What is still to buy once the transfers in have arrived: the need (order-up-to level less on hand and
    on order) less the transfers, rounded up to the case pack. Never more than the buy without transfers."""
    return ceil_to_case(max(Decimal(need) - Decimal(transfers_in), Decimal("0")), case_pack)


@dataclass
class StoreNeed:
    store_id: int
    on_hand: Decimal
    order_up_to: Decimal
    need: Decimal  # raw quantity the store would buy (0 when none)
    chain: str = ""
    currency: str = "GBP"
    transfer_group: str = ""


def rebalance(needs: list[StoreNeed], *, case_pack: int = 1) -> list[tuple[int, int, Decimal]]:
    """Transfers (from store, to store, quantity) of one product: surplus above a store's order-up-to
    level goes to stores that would otherwise buy and that it may move stock to (:func:`stores_can_transfer`),
    largest need first, from the largest surplus, in whole units. A sender keeps at least its order-up-to
    level; a store that needs stock never sends; a receiver gets no more than its need (rounded up to a unit),
    and only what saves a case: a transfer that would leave the buy the same number of cases is not made."""
    by_id = {n.store_id: n for n in needs}
    case = Decimal(max(int(case_pack or 1), 1))
    surplus = {
        n.store_id: (n.on_hand - n.order_up_to).to_integral_value(rounding=ROUND_FLOOR)
        for n in needs
        if n.need <= 0 and n.on_hand - n.order_up_to >= 1
    }
    moves = []
    for to_store in sorted((n.store_id for n in needs if n.need > 0), key=lambda s: (-by_id[s].need, s)):
        need = by_id[to_store].need
        senders = [s for s in surplus if surplus[s] > 0 and stores_can_transfer(by_id[s], by_id[to_store])]
        available = sum((surplus[s] for s in senders), Decimal("0"))
        # The cases still bought after the most that could come in, and the least transfer that gets there.
        cases_left = ((need - available) / case).to_integral_value(rounding=ROUND_CEILING) if available < need else 0
        wanted = max(need - cases_left * case, Decimal("0")).to_integral_value(rounding=ROUND_CEILING)
        for from_store in sorted(senders, key=lambda s: (-surplus[s], s)):
            if wanted <= 0:
                break
            qty = min(surplus[from_store], wanted)
            moves.append((from_store, to_store, qty))
            surplus[from_store] -= qty
            wanted -= qty
    return moves


def transfer_plan(needs: list[StoreNeed], *, case_pack: int) -> tuple[list[tuple[int, int, Decimal]], dict]:
    """The transfers of one product (:func:`rebalance`) and what each store still buys once every transfer
    in has arrived ({store: quantity}, for every store with a need): the transfers are counted together,
    so a transfer can only lower a buy."""
    moves = rebalance(needs, case_pack=case_pack)
    arriving: dict[int, Decimal] = {}
    for _from, to, qty in moves:
        arriving[to] = arriving.get(to, Decimal("0")) + qty
    buys = {
        n.store_id: buy_after_transfers(
            need=n.need, transfers_in=arriving.get(n.store_id, Decimal("0")), case_pack=case_pack
        )
        for n in needs
        if n.need > 0
    }
    return moves, buys
