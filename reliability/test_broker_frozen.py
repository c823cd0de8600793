"""The broker hangs (Redis SIGSTOPped: connections accepted, nothing answered): no request waits more than 5 s —
receipts, starting a forecast run, an import upload, the home page, the health check — and the run queued meanwhile
runs once after the broker wakes (SIGCONT)."""

from __future__ import annotations

import time
import uuid

import pytest

from .receipts import receipt
from .runs import assert_ran_once, run_finishes_once, run_start

LIMIT_S = 5.0
RUN_AFTER_S = 90


def import_csv(stack) -> bytes:
    product = stack.seeded.products[0]
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    row = f"F{uuid.uuid4().hex[:8]},{product['sku']},frozen broker,1,{time.strftime('%m/%d/%Y')} 09:00,"
    row += f"{product['price']},,United Kingdom"
    return f"{header}\n{row}\n".encode()


@pytest.mark.scorecard("broker frozen → no request waits > 5 s, queued run runs after")
def test_no_request_waits_on_a_frozen_broker_and_the_queued_run_runs_after(stack, broker, scorecard):
    pos = stack.client().token(stack.seeded.tokens["pos"])
    api = stack.client().token(stack.seeded.tokens["owner"])
    owner = stack.client().login("owner", stack.seeded.passwords["owner"])

    # given the broker is frozen
    broker.freeze()
    try:
        # when each kind of request is made (a run is started twice: the second must not pay for the first)
        timed = {
            "receipt": pos.post_json("/api/v1/receipts/", receipt(stack.seeded, reference=f"frz-{uuid.uuid4().hex}")),
            "run_start": run_start(api, stack),
            "run_start_again": run_start(api, stack, store=1),
            "import_upload": owner.post_form(
                "/sales/imports/new/",
                {"store": str(stack.seeded.stores[0]["id"])},
                files={"file": ("frozen.csv", import_csv(stack))},
            ),
            "home": owner.get("/"),
            "healthz": owner.get("/healthz/"),
        }
    finally:
        broker.thaw()
    thawed_at = time.monotonic()

    # then every one is answered, without a server error, within 5 s
    for name, answer in timed.items():
        scorecard.record(f"{name}_s", answer.seconds)
    slowest = max(a.seconds for a in timed.values())
    scorecard.record("p_max_s", slowest)
    problems = {n: (a.status, round(a.seconds, 2), a.error or a.body[:160]) for n, a in timed.items()}
    # /healthz/ reports the frozen broker: 503 is its right answer (within the time limit, like the rest)
    assert timed["healthz"].status == 503, problems
    assert all(0 < a.status < 500 for name, a in timed.items() if name != "healthz"), problems
    assert slowest <= LIMIT_S, problems
    assert timed["receipt"].status == 201, problems
    assert timed["run_start"].status == 201 and timed["run_start_again"].status == 201, problems
    assert timed["import_upload"].status in (200, 302), problems

    # and the runs queued while it was frozen run, once each, after it wakes
    for key in ("run_start", "run_start_again"):
        outcome = run_finishes_once(stack, timed[key].json()["id"], seconds=RUN_AFTER_S)
        assert_ran_once(outcome)
    scorecard.record("runs_after_s", time.monotonic() - thawed_at)
