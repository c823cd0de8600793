"""The house rules of DESIGN §2, checked on the source: no app depends on an app above it, and no module imports
another in a circle — counting imports inside functions and run-time look-ups (apps.get_model, import_string,
send_task names are not imports and are left out)."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Low → high: an app may depend only on apps to its left.
LAYERS = ["inventory", "customers", "sales", "forecasting", "reports", "demo"]
# retailops wires the project: only these modules of it may import apps.
WIRING = {"retailops/urls.py", "retailops/api_urls.py", "retailops/celery.py", "retailops/settings.py"}


def _modules(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or "migrations" in rel.parts:
            continue
        yield rel, ast.parse(path.read_text(), filename=str(rel))


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(rel: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = list(rel.parent.parts) if rel.name != "__init__.py" else list(rel.parent.parts)
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dependencies(rel: Path, tree: ast.AST):
    """(target module or app.Model string, line) for every import and apps.get_model / import_string call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(rel, node)
            yield module, node.lineno
            for alias in node.names:  # "from forecasting import tasks" names a module
                yield f"{module}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name == "get_model" and args:
                yield args[0].split(".")[0], node.lineno
            elif name == "import_string" and args:
                yield args[0], node.lineno


def test_no_app_depends_on_an_app_above_it():
    upward = []
    for rank, app in enumerate(LAYERS):
        if not (ROOT / app).exists():
            continue
        above = set(LAYERS[rank + 1 :])
        for rel, tree in _modules(app):
            for target, line in _dependencies(rel, tree):
                if target.split(".")[0] in above:
                    upward.append(f"{rel}:{line} → {target}")
    assert not upward, "upward dependencies:\n" + "\n".join(upward)


def test_retailops_imports_apps_only_where_it_wires_them():
    found = []
    for rel, tree in _modules("retailops"):
        if str(rel) in WIRING or "management" in rel.parts:
            continue
        for target, line in _dependencies(rel, tree):
            if target.split(".")[0] in LAYERS:
                found.append(f"{rel}:{line} → {target}")
    assert not found, "\n".join(found)


def test_no_module_imports_another_in_a_circle_even_lazily():
    names = {}
    for app in [*LAYERS, "retailops"]:
        if (ROOT / app).exists():
            for rel, tree in _modules(app):
                names[_module_name(rel)] = (rel, tree)
    graph = {name: set() for name in names}
    for name, (rel, tree) in names.items():
        for target, _line in _dependencies(rel, tree):
            if target in names and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" → ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("app", LAYERS)
def test_every_layer_of_the_design_is_an_app(app):
    assert (ROOT / app / "apps.py").exists(), f"{app}/ is in DESIGN §2 but not in the project"
