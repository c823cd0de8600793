"""Forecast runs started through the API and followed in the instance's database."""

from __future__ import annotations

from .harness import Answer, Client, Stack, wait_for

FINISHED = ("done", "partial", "failed")


def run_start(client: Client, stack: Stack, *, store: int = 0) -> Answer:
    """Start a small forecast run (one store, the fastest model, a week ahead) as the client's user."""
    body = {"horizon_days": 7, "store_ids": [stack.seeded.stores[store]["id"]], "models": ["seasonal_naive"]}
    return client.post_json("/api/v1/forecast-runs/", body)


def run_finishes_once(stack: Stack, run_id: int, *, seconds: float) -> dict:
    """Wait for the run to finish; return its status and how often its chunks were computed and forecasts written."""

    def finished():
        status = stack.database.scalar("SELECT status FROM forecasting_forecastrun WHERE id = %s", [run_id])
        return status if status in FINISHED else None

    try:
        status = wait_for(finished, seconds=seconds, what=f"forecast run {run_id} to finish", every=0.5)
    except TimeoutError as exc:
        worker = stack.processes.get("worker")
        state = "alive" if worker is not None and worker.alive() else "EXITED (it did not survive the outage)"
        row = stack.database.query(
            "SELECT status, chunks_done, chunks_total, message FROM forecasting_forecastrun WHERE id = %s", [run_id]
        )
        raise AssertionError(f"{exc}; the run: {row}; the worker: {state}") from None
    chunks = stack.database.query(
        "SELECT count(*), coalesce(sum(attempts), 0), count(*) FILTER (WHERE done) "
        "FROM forecasting_forecastchunk WHERE run_id = %s",
        [run_id],
    )[0]
    rows, distinct = stack.database.query(
        "SELECT count(*), count(DISTINCT (store_id, product_id, date)) FROM forecasting_demandforecast "
        "WHERE run_id = %s",
        [run_id],
    )[0]
    return {"status": status, "chunks": chunks[0], "attempts": chunks[1], "done": chunks[2], "rows": rows,
            "distinct": distinct}  # fmt: skip


def assert_ran_once(outcome: dict) -> None:
    assert outcome["status"] == "done", outcome
    assert outcome["chunks"] == outcome["done"] == outcome["attempts"], f"a chunk computed more than once: {outcome}"
    assert outcome["rows"] == outcome["distinct"] > 0, f"forecasts written twice: {outcome}"
