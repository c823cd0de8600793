"""Twenty tills post the same receipt at the same moment to the running gunicorn: it is stored once."""

from __future__ import annotations

import threading
import uuid

import pytest

from .harness import Answer, percentile
from .receipts import receipt


@pytest.mark.scorecard("concurrent duplicate receipts → one stored")
def test_twenty_concurrent_copies_of_one_receipt_store_one_sale(stack, scorecard):
    # given one receipt, and 20 clients with the POS device's token ready to post it at once
    body = receipt(stack.seeded, reference=f"dup-{uuid.uuid4().hex[:10]}")
    barrier = threading.Barrier(20)
    answers: list[Answer] = []

    def post() -> None:
        client = stack.client().token(stack.seeded.tokens["pos"])
        barrier.wait()
        answers.append(client.post_json("/api/v1/receipts/", body))

    # when all 20 post it together
    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then one is accepted, the others are answered "duplicate", and one sale is stored
    statuses = sorted(a.status for a in answers)
    rows = stack.database.scalar("SELECT count(*) FROM sales_sale WHERE pos_reference = %s", [body["pos_reference"]])
    scorecard.record("rows", rows)
    scorecard.record("p_max_s", max(a.seconds for a in answers))
    scorecard.record("p95_s", percentile([a.seconds for a in answers], 0.95))
    assert rows == 1
    assert statuses == [200] * 19 + [201], [(a.status, a.body[:200]) for a in answers if a.status not in (200, 201)]
    assert {a.json()["status"] for a in answers} == {"accepted", "duplicate"}
