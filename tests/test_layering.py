"""Data flows one way: knowledge ← indexing ← bot, and inside bot/ each subpackage keeps to its rule.

Checked on the source (`ast`), so that a lazy import inside a function counts as much as one at the top;
imports under `if TYPE_CHECKING:` are for annotations only and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("knowledge", "indexing", "bot")
FORBIDDEN = {"knowledge": ("indexing", "bot"), "indexing": ("bot",)}
HTTP = ("fastapi", "starlette", "httpx", "uvicorn", "bot.wechat", "bot.console")
DATABASE = ("sqlalchemy", "psycopg", "redis", "alembic", "bot.records", "bot.staff", "bot.shared_state")
# What each subpackage of bot/ must not import, and why.
BOT_RULES = {
    "bot.answers": HTTP + DATABASE + ("bot.conversation", "bot.search"),  # pure text builders
    "bot.search": HTTP + ("sqlalchemy", "psycopg", "bot.records", "bot.staff", "bot.conversation"),
    "bot.records": HTTP + ("bot.conversation", "bot.search"),  # stores what the turn produced
    "bot.shared_state": HTTP + ("bot.conversation", "bot.search", "bot.staff"),
    "bot.staff": ("fastapi", "starlette", "uvicorn", "bot.console", "bot.conversation", "bot.search"),
    "bot.conversation": ("fastapi", "starlette", "uvicorn", "bot.console"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from (path for path in (ROOT / package).rglob("*.py") if "versions" not in path.parts)


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (absolute names; `from a import b` gives a.b when b is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    ROOT / sub.replace(".", "/") / "__init__.py"
                ).exists()
                names.add(sub if is_module else node.module)
    return names


GRAPH = {module_name(path): runtime_imports(path) for path in package_files()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    offenders = {
        module: sorted(n for n in imports if any(within(n, upper) for upper in FORBIDDEN[package]))
        for module, imports in GRAPH.items()
        if within(module, package)
    }
    assert {module: bad for module, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("subpackage", sorted(BOT_RULES))
def test_bot_subpackages_keep_to_their_rule(subpackage: str) -> None:
    assert (ROOT / subpackage.replace(".", "/") / "__init__.py").exists()
    offenders = {
        module: sorted(n for n in imports if any(within(n, banned) for banned in BOT_RULES[subpackage]))
        for module, imports in GRAPH.items()
        if within(module, subpackage)
    }
    assert {module: bad for module, bad in offenders.items() if bad} == {}


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components over the package modules: every component is one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node] & GRAPH.keys():
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert circles == []


def test_bot_top_level_stays_small() -> None:
    """bot/ shows the path of a message through its subpackages; only the entry points sit beside them."""
    modules = sorted(path.name for path in (ROOT / "bot").glob("*.py"))
    assert len(modules) <= 12, modules


def test_lower_layers_do_not_read_the_environment() -> None:
    """Only bot/ reads configuration; indexing/ may only default a runtime library's own variable."""
    allowed = 'os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")'
    readers = [
        str(path.relative_to(ROOT))
        for package in FORBIDDEN
        for path in (ROOT / package).rglob("*.py")
        if any(word in path.read_text(encoding="utf-8").replace(allowed, "") for word in ("os.environ", "getenv"))
    ]
    assert readers == []
