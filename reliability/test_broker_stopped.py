"""The broker goes away (Redis stopped): tills keep posting receipts, stored at once; a forecast run started during
the outage is kept and runs once after the broker returns — without anyone restarting the worker."""

from __future__ import annotations

import time
import uuid

import pytest

from .harness import percentile
from .receipts import receipt
from .runs import assert_ran_once, run_finishes_once, run_start

RECEIPT_LIMIT_S = 2.0
OUTAGE_S = 20  # longer than the worker's old give-up (3 retries: 2 + 4 + 6 s)
RUN_AFTER_S = 90  # the relay runs every 10 s on beat and when a worker starts; the worker reconnects with back-off


@pytest.mark.scorecard("broker stopped → receipts stored < 2 s, queued run runs after")
def test_receipts_are_stored_and_a_queued_run_runs_after_the_broker_returns(stack, broker, scorecard):
    pos = stack.client().token(stack.seeded.tokens["pos"])
    owner = stack.client().token(stack.seeded.tokens["owner"])

    # given the broker is down
    broker.stop()
    down_at = time.monotonic()

    # when tills post receipts and the owner starts a forecast run
    references = [f"down-{uuid.uuid4().hex[:10]}" for _ in range(10)]
    answers = [pos.post_json("/api/v1/receipts/", receipt(stack.seeded, reference=ref)) for ref in references]
    started = run_start(owner, stack)

    # then every receipt is stored, each answered in under 2 s, and the run is accepted
    seconds = [a.seconds for a in answers]
    scorecard.record("receipts_p95_s", percentile(seconds, 0.95))
    scorecard.record("receipts_max_s", max(seconds))
    scorecard.record("run_start_s", started.seconds)
    stored = stack.database.scalar("SELECT count(*) FROM sales_sale WHERE pos_reference = ANY(%s)", [references])
    scorecard.record("receipts_stored", f"{stored}/{len(references)}")
    assert [a.status for a in answers] == [201] * len(answers), [(a.status, a.body[:200]) for a in answers]
    assert stored == len(references)
    assert max(seconds) < RECEIPT_LIMIT_S, seconds
    assert started.status == 201, (started.status, started.body[:300], started.error)
    assert started.seconds < RECEIPT_LIMIT_S, started.seconds
    run_id = started.json()["id"]

    # and when the broker comes back after a while (the worker meanwhile left alone)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage's length, not an assertion
    broker.start()
    back_at = time.monotonic()

    # then the run queued during the outage runs, once
    outcome = run_finishes_once(stack, run_id, seconds=RUN_AFTER_S)
    scorecard.record("run_after_s", time.monotonic() - back_at)
    assert_ran_once(outcome)
