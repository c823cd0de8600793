"""Schemathesis against the live schema (/api/schema/) of a running gunicorn: thousands of generated requests as the
owner (every permission) and as staff (one store, no costs), and not one server error (5xx).

The CLI runs in a subprocess with a pinned seed, so a run is reproducible (same schema, same cases); its JSON report
gives the count of cases. The instance has no worker: work the fuzzer queues (forecast runs, training) waits in the
instance's own Redis and is dropped with it, so it cannot slow down the other reliability tests.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import running_stack
from .harness import BIN

SEED = 17
# (role, examples per operation in the fuzzing phase); the coverage phase adds its boundary cases to each.
ROLES = [("owner", 10), ("staff", 5)]
MIN_CASES = 1000


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    with running_stack(tmp_path_factory, "reliability_fuzz", worker=False, beat=False) as running:
        yield running


def schemathesis(stack, *, role: str, examples: int, report_dir) -> tuple[dict, str]:
    command = [str(BIN / "st"), "run", f"{stack.base_url}/api/schema/"]
    command += ["--header", f"Authorization: Token {stack.seeded.tokens[role]}", "--checks", "not_a_server_error"]
    command += ["--seed", str(SEED), "--max-examples", str(examples), "--phases", "examples,coverage,fuzzing"]
    command += ["--workers", "2", "--request-timeout", "30", "--suppress-health-check", "all", "--no-color"]
    command += ["--report", "json", "--report-json-path", str(report_dir / f"{role}.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=stack.env)
    try:
        report = json.loads((report_dir / f"{role}.json").read_text())
    except (OSError, ValueError):
        pytest.fail(f"schemathesis wrote no report ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr}")
    return report, result.stdout


@pytest.mark.scorecard("schemathesis: generated API cases, 0 server errors")
def test_generated_api_requests_never_get_a_server_error(fuzz_stack, scorecard, tmp_path):
    cases, server_errors, summaries = 0, [], []
    reruns = 0
    for role, examples in ROLES:
        report, output = schemathesis(fuzz_stack, role=role, examples=examples, report_dir=tmp_path)
        if report["errors"] and not report["failures"]:
            # An error inside the fuzzer itself ("Runtime Error": no response to judge; seen once on a machine at
            # load 4, not reproduced alone). Run the same seed once more: a server error is a failure, never an
            # error, so this cannot hide one, and an error that comes back still fails below.
            reruns += 1
            report, output = schemathesis(fuzz_stack, role=role, examples=examples, report_dir=tmp_path)
        generated = report["test_cases"]["generated"]
        cases += generated
        scorecard.record(f"cases_{role}", generated)
        for failure in report["failures"]:
            if failure["type"] == "ServerError":
                server_errors += [f"{role}: {op}" for op in failure["operations"]]
        summaries.append(f"--- {role} ---\n{output[-4000:]}")
        assert not report["errors"], f"schemathesis errors as {role}: {report['errors']}\n{output[-6000:]}"
        assert report["complete"], f"schemathesis stopped early as {role}: {report['stop_reason']}"
    scorecard.record("cases", cases)
    scorecard.record("fuzzer_reruns", reruns)
    scorecard.record("server_errors", len(server_errors))
    assert not server_errors, "server errors on " + ", ".join(server_errors) + "\n" + "\n".join(summaries)
    assert cases >= MIN_CASES, "\n".join(summaries)
