"""The engine's layering (docs/architecture.md): no import cycles, no import from a higher layer.

Every import counts, function-local ones included: a cycle hidden inside a function is still a
knot a reader has to untangle, and an upward import still couples a low layer to a high one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "cassia"

# Lowest first. A module may import from its own layer (without cycles) and from lower ones.
LAYERS: list[tuple[str, set[str]]] = [
    ("core", {"errors", "models", "version", "prompts", "spelling", "options"}),
    ("inputs", {"markers", "ontology"}),
    ("knowledge", {"knowledge", "rag"}),
    ("outputs", {"store", "report", "writeback"}),
    ("backends", {"providers", "testing"}),
    ("agents", {"agents"}),
    ("workflows", {"workflows"}),
    ("evaluation", {"evaluate"}),
    ("interfaces", {"cli", "rbridge", "rtables", "benchmark", "__init__", "__main__"}),
]
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = ["cassia", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The cassia modules ``name`` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "cassia")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "cassia":
                continue
            for alias in node.names:  # "from pkg import module" imports that module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    found.discard(name)
    return {m for m in found if m in modules}


def _layer_part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_top_level_module_has_a_layer():
    parts = {_layer_part(m) for m in _modules()}
    assert parts - RANK.keys() == set(), "add new top-level modules to LAYERS (and docs/architecture.md)"


def test_no_module_imports_from_a_higher_layer(graph):
    upward = [
        f"{source} ({LAYERS[RANK[_layer_part(source)]][0]}) -> {target} ({LAYERS[RANK[_layer_part(target)]][0]})"
        for source, targets in sorted(graph.items()) for target in sorted(targets)
        if RANK[_layer_part(target)] > RANK[_layer_part(source)]
    ]
    assert upward == []


def test_no_import_cycles(graph):
    cycles = []
    for start in sorted(graph):  # a depth-first search from each module back to itself
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in sorted(graph[node]):
                if target == start:
                    cycles.append(" -> ".join(path + [start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
    assert cycles == []


def test_modules_stay_small():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_layering_test_sees_a_planted_cycle_and_an_upward_import(tmp_path):
    """The checks themselves can fail: a fake package with both defects is caught."""
    modules = {"cassia.store": tmp_path / "store.py", "cassia.workflows": tmp_path / "workflows.py"}
    modules["cassia.store"].write_text("def f():\n    from .workflows import run\n")
    modules["cassia.workflows"].write_text("from .store import f\n")
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"cassia.store": {"cassia.workflows"}, "cassia.workflows": {"cassia.store"}}
    assert RANK[_layer_part("cassia.workflows")] > RANK[_layer_part("cassia.store")]
