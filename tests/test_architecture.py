"""The package's shape: layers that import only downwards, no import cycle, small modules.

Every import is counted, the ones inside functions and under ``TYPE_CHECKING`` too: an import
deferred for start-up time is still an arrow between modules. The layers, lowest first, are
the ones docs/architecture.md lists.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "circle_survival"

#: the layers, lowest first: a module may import its own layer's modules and lower ones
LAYERS = (
    ("_version", "errors", "plain"),
    ("fourier",),
    ("interventions",),
    ("config", "variants"),
    ("model",),
    ("training",),
    ("store",),
    ("sweep",),
    ("analysis",),
    ("figures",),
    ("report",),
    ("experiments",),
    ("plot",),
    ("commands",),
    ("cli",),
    ("__init__", "__main__"),
)
MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 12


def module_name(path: Path) -> str:
    """'circle_survival.store.reader' for src/circle_survival/store/reader.py (a package's
    ``__init__.py`` is the package)."""
    parts = ["circle_survival", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in it. ``from X import y``
    imports ``X.y`` when that is a module, else ``X``."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "circle_survival"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "circle_survival":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def layer(name: str) -> int:
    parts = name.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(LAYERS):
        if key in names:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_graph_sees_deferred_imports():
    edges = graph()
    # cli imports its commands at the top, and commands import the store inside functions
    assert "circle_survival.commands" in edges["circle_survival.cli"]
    assert "circle_survival.store" in edges["circle_survival.commands.show"]
    assert "circle_survival.training.ensemble" in edges["circle_survival.training.trainer"]


def test_no_import_cycle():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                    if layer(b) > layer(a))
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_line_limit(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines"


def test_the_top_level_holds_few_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_every_top_level_name_is_in_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py")} | {p.parent.name
                                                       for p in PACKAGE.glob("*/__init__.py")}
    for n in names:
        layer(f"circle_survival.{n}" if n != "__init__" else "circle_survival")
