"""Data flows one way: knowledge ← indexing ← bot. The lower layers never import the upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"knowledge": ("indexing", "bot"), "indexing": ("bot",)}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


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
