"""The stock ledger has one writer (issue 16, item 1): only inventory/ writes stock movements and stock levels.

Scans the project's source (not tests, not migrations, not the bench/ harness that seeds synthetic databases
with its own COPY) for what writes inventory_stockmovement / inventory_stocklevel: SQL naming those tables
after INSERT / UPDATE / COPY / DELETE / TRUNCATE, raw SQL on their `_meta.db_table`, the models' manager
writes (create, bulk_create, update …), rows of them built by hand (StockMovement(...)) and the models handed
to a set-based writer (insert_rows(StockMovement, …), a COPY writer class). `.save()` on an instance is not
followed. Everything found outside inventory/ fails the test, except what ALLOWED names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
OWNER = "inventory"
MODELS = {"StockMovement", "StockLevel"}
TABLES = ("inventory_stockmovement", "inventory_stocklevel")
SKIPPED_DIRS = {".venv", "venv", "node_modules", "tests", "migrations", "bench", "e2e", "static", "var"}
# Module → why it may still write the ledger. Keep it empty: the owner offers single-row and bulk services.
ALLOWED = {
    # Its _Writer for StockMovement only buffers rows: flush() hands them to stock_ledger_write, which appends them
    # through inventory.bulk.stock_movements_load (and the levels through stock_levels_create).
    "demo/writers.py": "buffers the demo's movement rows for inventory.bulk",
}

MANAGER_WRITES = {"create", "bulk_create", "bulk_update", "update", "get_or_create", "update_or_create", "delete"}
WRITER_CALL = re.compile(r"insert|write|copy|bulk|load|upsert", re.IGNORECASE)
SQL_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|COPY|DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+\"?(" + "|".join(TABLES) + r")\b",
    re.IGNORECASE,
)
SQL_WRITE_VERB = re.compile(r"\b(INSERT\s+INTO|UPDATE\s|COPY\s|DELETE\s+FROM|TRUNCATE)", re.IGNORECASE)


def _project_files():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if SKIPPED_DIRS.intersection(rel.parts[:-1]) or rel.parts[0].startswith("."):
            continue
        yield rel.as_posix(), path.read_text()


def _strings(node: ast.AST):
    """Every string literal under node, f-strings as their literal parts joined."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value
        elif isinstance(sub, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else " {} " for v in sub.values)


def _model_names(tree: ast.AST) -> set[str]:
    """The ledger's models under the names this module gives them (imports with `as`, apps.get_model)."""
    names = set(MODELS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.update(alias.asname for alias in node.names if alias.name in MODELS and alias.asname)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if getattr(func, "attr", getattr(func, "id", "")) != "get_model":
                continue
            words = [a.value for a in node.value.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if words and words[-1].split(".")[-1] in MODELS:
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _root_name(node: ast.AST) -> ast.AST:
    """The start of a chain such as StockLevel.objects.filter(...).update(...)."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return node


def _manager_of(node: ast.AST, models: set[str]) -> bool:
    """Whether a call chain runs on <Model>.objects (or _default_manager) of one of the ledger's models."""
    while isinstance(node, ast.Call | ast.Attribute):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("objects", "_default_manager")
            and isinstance(node.value, ast.Name)
            and node.value.id in models
        ):
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def stock_writes(source: str, filename: str = "<source>") -> list[str]:
    """What in this source writes the stock ledger's tables: "line: what" for each finding."""
    tree = ast.parse(source, filename=filename)
    models = _model_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            text = next(_strings(node))
            match = SQL_WRITE.search(text)
            if match:
                found.append(f"{node.lineno}: SQL writes {match.group(3)}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            uses_table = any(
                isinstance(sub, ast.Attribute)
                and sub.attr == "db_table"
                and isinstance(sub.value, ast.Attribute)
                and sub.value.attr == "_meta"
                and isinstance(sub.value.value, ast.Name)
                and sub.value.value.id in models
                for sub in ast.walk(node)
            )
            if uses_table and any(SQL_WRITE_VERB.search(text) for text in _strings(node)):
                found.append(f"{node.lineno}: raw SQL writes a stock table in {node.name}()")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = getattr(func, "attr", getattr(func, "id", ""))
        if isinstance(func, ast.Attribute) and name in MANAGER_WRITES and _manager_of(func.value, models):
            found.append(f"{node.lineno}: {ast.unparse(_root_name(func))}.objects ….{name}()")
        elif isinstance(func, ast.Name) and func.id in models:
            found.append(f"{node.lineno}: builds {func.id}(...) rows")
        elif WRITER_CALL.search(name) and any(isinstance(a, ast.Name) and a.id in models for a in node.args):
            model = next(a.id for a in node.args if isinstance(a, ast.Name) and a.id in models)
            found.append(f"{node.lineno}: hands {model} to {name}()")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def _findings() -> dict[str, list[str]]:
    out = {}
    for rel, source in _project_files():
        if rel.split("/")[0] == OWNER:
            continue
        found = stock_writes(source, rel)
        if found:
            out[rel] = found
    return out


def test_only_inventory_writes_stock_movements_and_levels():
    offenders = {rel: found for rel, found in _findings().items() if rel not in ALLOWED}
    assert not offenders, (
        "the stock ledger is written outside inventory/ (call inventory.services / inventory.bulk):\n"
        + ("\n".join(f"{rel}:{line}" for rel, found in offenders.items() for line in found))
    )


def test_the_allow_list_names_only_modules_that_still_need_it():
    findings = _findings()
    stale = [rel for rel in ALLOWED if rel not in findings]
    assert not stale, f"no longer writes the ledger: remove from ALLOWED: {stale}"


def test_the_scanner_sees_every_kind_of_write():
    source = """
from inventory.models import StockLevel, StockMovement as Move
from django.apps import apps
Level = apps.get_model("inventory", "StockLevel")

def a(cursor):
    cursor.execute("INSERT INTO inventory_stockmovement (store_id) VALUES (1)")
def b(cursor, t):
    cursor.execute(f"UPDATE inventory_stocklevel SET on_hand = 0 WHERE id = {t}")
def c(cursor):
    table = StockLevel._meta.db_table
    cursor.execute(f"INSERT INTO {table} VALUES (1) ON CONFLICT DO NOTHING")
def d():
    StockLevel.objects.filter(pk=1).update(on_hand=0)
def e():
    Level.objects.bulk_create([])
def f():
    return Move(store_id=1)
def g(bulk, rows):
    bulk.insert_rows(Move, ("store_id",), rows)
def h(cursor):
    cursor.execute("COPY inventory_stocklevel (store_id) FROM STDIN")
"""
    found = stock_writes(source)
    lines = {int(f.split(":")[0]) for f in found}
    assert lines >= {7, 9, 10, 14, 16, 18, 20, 22}, found


def test_the_scanner_leaves_reads_alone():
    source = """
from inventory.models import StockLevel, StockMovement

def a(cursor):
    cursor.execute("SELECT on_hand FROM inventory_stocklevel WHERE id = 1")
    cursor.execute(f"SELECT * FROM {StockMovement._meta.db_table} m LEFT JOIN x ON x.id = m.source_id")
    return StockLevel.objects.select_for_update().filter(pk=1).exists(), StockMovement.objects.count()
"""
    assert stock_writes(source) == []
