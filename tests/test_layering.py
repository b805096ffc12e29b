"""Imports only go down the floors of docs/architecture.md and close no circle.

Every ``import`` in ``src/scvae`` counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "scvae"

#: top to bottom; a part may import the parts of lower floors, never a sibling or higher
FLOORS = [
    {"__main__"},
    {"cli"},
    {"api", "__init__"},  # __init__: the package face (``scvae.DataSet``, the model classes)
    {"workflows"},
    {"analyses", "evaluation"},
    {"training"},
    {"runs"},  # run identity: which run a command uses
    {"folders"},
    {"data", "models"},
    {"nn"},
    {"distributions", "plotting", "report", "config", "runtime", "progress"},
    {"errors", "io", "clustering"},
]
FLOOR = {part: -level for level, parts in enumerate(FLOORS) for part in parts}

#: deprecation shims: an old spelling forwarded upwards or sideways for one release
SHIMS = {
    ("scvae.models", "scvae.workflows.estimators"),  # scvae.models.VariationalAutoencoder
    ("scvae.data.data_set", "scvae.data.loading"),  # DataSet.load()
    ("scvae.data.data_set", "scvae.data.anndata"),  # DataSet.from_anndata / to_anndata
}


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


def test_no_import_circles():
    reach = {module: _reachable(module) for module in GRAPH}
    circles = {frozenset(n for n in reach[m] if m in reach[n]) for m in GRAPH if m in reach[m]}
    found = sorted(sorted(circle) for circle in circles)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _imported(nodes) -> set[str]:
    names = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                names.add(name if name in MODULES else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_shims_forward_lazily():
    """Each shim imports its target inside a function only (importing the old spelling's
    module does not load the floor above), and exists (a stale entry would hide a new one)."""
    for source, target in SHIMS:
        tree = ast.parse(MODULES[source].read_text())
        assert target in _imported(ast.walk(tree)), f"{source} no longer imports {target}"
        assert target not in _imported(tree.body), f"{source} imports {target} at module level"
