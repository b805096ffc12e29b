"""Imports only go down the floors of docs/architecture.md and close no circle.

Every ``import`` in ``src/scvae`` counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "scvae"

#: top to bottom; a part may import the parts of lower floors, never a sibling or higher
FLOORS = [
    {"__main__"},
    {"cli"},
    {"api", "__init__"},  # __init__: the package face (``scvae.DataSet``, the model classes)
    {"workflows"},
    {"analyses", "evaluation"},
    {"training"},
    {"folders"},
    {"data", "models"},
    {"nn"},
    {"distributions", "plotting", "report", "config", "runtime", "progress"},
    {"errors", "io", "clustering"},
]
FLOOR = {part: -level for level, parts in enumerate(FLOORS) for part in parts}

#: deprecation shims: an old spelling forwarded upwards for one release
SHIMS = {("scvae.models", "scvae.workflows.estimators")}

# Known circles in data/ while it becomes one data path; delete each when it opens (a
# circle listed here also covers the smaller circles inside it).
DATA_CIRCLES = [
    # DataSet.load / from_anndata / to_anndata: methods on the container that call
    # loading and anndata, kept for one release
    {"anndata", "data_set", "loading"},
]


def _module(path: Path) -> str:
    parts = ["scvae", *path.relative_to(SOURCE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in SOURCE.rglob("*.py")}


def _imports(module: str) -> set[str]:
    """The scvae modules ``module`` imports (``from package import module`` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = (f"{node.module}.{alias.name}" for alias in node.names)
            found.update(name if name in MODULES else node.module for name in names)
    return (
        {name for name in found if name in MODULES}
        - {module}
        - {t for s, t in SHIMS if s == module}
    )


GRAPH = {module: _imports(module) for module in MODULES}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_every_part_has_a_floor():
    assert {_part(module) for module in MODULES} <= set(FLOOR)


def test_imports_only_go_down():
    upward = [
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if _part(source) != _part(target)
        and FLOOR.get(_part(source), 0) <= FLOOR.get(_part(target), 0)
    ]
    assert not upward, "imports that go up or sideways:\n" + "\n".join(sorted(upward))


@pytest.mark.parametrize("inside_data", [False, True], ids=["outside data", "inside data"])
def test_no_import_circles(inside_data):
    reach = {module: _reachable(module) for module in GRAPH}
    circles = {frozenset(n for n in reach[m] if m in reach[n]) for m in GRAPH if m in reach[m]}
    known = [{f"scvae.data.{name}" for name in circle} for circle in DATA_CIRCLES]
    unknown = [
        sorted(circle)
        for circle in circles
        if all(_part(m) == "data" for m in circle) == inside_data
        and not (inside_data and any(circle <= circle_known for circle_known in known))
    ]
    assert not unknown, "import circles:\n" + "\n".join(" <-> ".join(c) for c in unknown)
