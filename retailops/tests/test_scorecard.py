"""The scorecard plugin: a table of the `scorecard(label)` tests at the end of a run, under xdist too, and the lines
of an earlier run added with --scorecard-append (how `make test` shows its two pytest runs as one table)."""

import re

import pytest
from django.conf import settings

TESTS = """
import pytest

@pytest.mark.scorecard("line A")
def test_passes(scorecard):
    scorecard.record("cases", 1043)
    scorecard.record("p_max_s", 1.23456)

@pytest.mark.scorecard("line A")
def test_fails(scorecard):
    scorecard.record("rows", 2)
    assert False

@pytest.mark.scorecard("line B")
def test_skipped():
    pytest.skip("no Redis")

def test_not_on_the_scorecard():
    pass
"""


def _run(pytester, *args):
    pytester.makeini("[pytest]\nmarkers =\n    scorecard(label): a line of the reliability scorecard\n")
    return pytester.runpytest_subprocess(
        "-p", "no:django", "-p", "no:cacheprovider", "-p", "retailops.scorecard", *args
    )


def _row(output: str, label: str) -> list[str]:
    match = re.search(rf"^{re.escape(label)}\s+(.*)$", output, re.MULTILINE)
    assert match, output
    return match.group(1).split()


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    """The pytest runs in a subprocess find the plugin (retailops.scorecard) from their temporary directory."""
    monkeypatch.setenv("PYTHONPATH", str(settings.BASE_DIR))


def test_the_table_counts_each_line_and_shows_its_figures_under_xdist(pytester):
    pytester.makepyfile(test_lines=TESTS)

    result = _run(pytester, "-n", "2")

    output = result.stdout.str()
    assert "reliability scorecard" in output
    assert _row(output, "line A")[:6] == ["2", "1", "1", "0", "FAIL", "cases=1,043,"]
    assert "p_max_s=1.235; rows=2" in output
    assert _row(output, "line B")[:5] == ["1", "0", "0", "1", "skip"]
    assert "test_not_on_the_scorecard" not in output


def test_a_second_run_appends_the_first_runs_lines(pytester, tmp_path):
    pytester.makepyfile(test_lines=TESTS)
    pytester.makepyfile(test_more='import pytest\n\n@pytest.mark.scorecard("line C")\ndef test_c():\n    pass\n')
    file = tmp_path / "scorecard.json"

    _run(pytester, "test_lines.py", "--scorecard-file", str(file))
    result = _run(pytester, "test_more.py", "--scorecard-file", str(file), "--scorecard-append")

    output = result.stdout.str()
    assert _row(output, "line A")[:5] == ["2", "1", "1", "0", "FAIL"]
    assert _row(output, "line C")[:5] == ["1", "1", "0", "0", "ok"]
