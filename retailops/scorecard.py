"""The reliability scorecard: a pytest plugin (loaded by the root conftest.py) that prints one table at the end of a
pytest run, a line per `@pytest.mark.scorecard("label")`, with how many of its tests passed and the figures they
recorded through the `scorecard` fixture (`scorecard.record("p_max_s", 1.7)`).

Works under pytest-xdist: the label and the figures travel to the controller in `item.user_properties` (copied
into every test report). `make test` runs pytest twice (the main suite on xdist, then `reliability/` on its own);
`--scorecard-file PATH` keeps the lines of a run in a JSON file and `--scorecard-append` adds the earlier run's
lines to this run's table, so the last table printed is the whole `make test`'s.

Imports no app: this is test tooling that lives in `retailops/` so that every test in the tree can use it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

LABEL_KEY = "scorecard_label"
FIGURE_KEY = "scorecard_figure"


@dataclass
class Line:
    """One test's contribution to the scorecard."""

    label: str
    nodeid: str
    outcome: str = "passed"  # passed / failed / skipped
    figures: dict[str, object] = field(default_factory=dict)


class Recorder:
    """What a test gets from the `scorecard` fixture: `record(name, value)` adds a figure to its line."""

    def __init__(self, item: pytest.Item):
        self._item = item

    def record(self, name: str, value: object) -> None:
        if isinstance(value, float):
            value = round(value, 3)
        self._item.user_properties.append((FIGURE_KEY, (name, value)))


@pytest.fixture
def scorecard(request) -> Recorder:
    """Record a figure on this test's scorecard line: `scorecard.record("cases", 1043)`."""
    return Recorder(request.node)


def pytest_addoption(parser):
    group = parser.getgroup("scorecard")
    group.addoption("--scorecard-file", default=None, help="Keep this run's scorecard lines in a JSON file.")
    group.addoption(
        "--scorecard-append",
        action="store_true",
        default=False,
        help="Add the lines already in --scorecard-file (an earlier pytest run of the same make test) to this table.",
    )


_CONFIG: dict[str, pytest.Config] = {}  # the running session's config (pytest_runtest_logreport is not given it)


def pytest_configure(config):
    config._scorecard_lines = {}  # nodeid -> Line, on the controller
    _CONFIG["config"] = config


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("scorecard")
        if marker is not None:
            label = marker.args[0] if marker.args else marker.kwargs.get("label", item.name)
            item.user_properties.append((LABEL_KEY, str(label)))


def _label_and_figures(report) -> tuple[str | None, dict[str, object]]:
    label, figures = None, {}
    for key, value in getattr(report, "user_properties", ()):
        if key == LABEL_KEY:
            label = value
        elif key == FIGURE_KEY:
            name, figure = value
            figures[name] = figure
    return label, figures


def pytest_runtest_logreport(report):
    config = _CONFIG.get("config")
    if config is None or hasattr(config, "workerinput"):
        return
    label, figures = _label_and_figures(report)
    if label is None:
        return
    lines = config._scorecard_lines
    line = lines.setdefault(report.nodeid, Line(label=label, nodeid=report.nodeid))
    line.figures.update(figures)
    if report.failed:
        line.outcome = "failed"
    elif report.skipped and line.outcome != "failed":
        line.outcome = "skipped"


def _read(path: Path) -> list[Line]:
    try:
        return [Line(**row) for row in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _figure(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def scorecard_table(lines: list[Line]) -> list[str]:
    """The table as printed: per label, tests, passed / failed / skipped and each test's figures."""
    by_label: dict[str, list[Line]] = {}
    for line in lines:
        by_label.setdefault(line.label, []).append(line)
    width = max((len(label) for label in by_label), default=10)
    rows = [f"{'line':<{width}}  tests  passed  failed  skipped  result  figures"]
    for label, group in by_label.items():
        counts = {o: sum(1 for ln in group if ln.outcome == o) for o in ("passed", "failed", "skipped")}
        figures = "; ".join(", ".join(f"{k}={_figure(v)}" for k, v in ln.figures.items()) for ln in group if ln.figures)
        verdict = "FAIL" if counts["failed"] else ("skip" if counts["skipped"] == len(group) else "ok")
        rows.append(
            f"{label:<{width}}  {len(group):>5}  {counts['passed']:>6}  {counts['failed']:>6}  {counts['skipped']:>7}"
            f"  {verdict:<6}  {figures}".rstrip()
        )
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    lines = list(config._scorecard_lines.values())
    path = config.getoption("scorecard_file")
    if path:
        path = Path(path)
        if config.getoption("scorecard_append"):
            earlier = [ln for ln in _read(path) if ln.nodeid not in config._scorecard_lines]
            lines = earlier + lines
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(ln) for ln in lines], indent=1))
    if not lines:
        return
    terminalreporter.write_sep("=", "reliability scorecard")
    for row in scorecard_table(lines):
        terminalreporter.write_line(row)
