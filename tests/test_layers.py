"""Imports go one way: cli → benchmarks → exporters → registry and families.

Every module of the installed namespace is read as source (nothing is imported) and each
import is checked against two rules:

1. No module imports a module of a higher layer, not even inside a function.
2. A module reaches another layer through public names only: no ``zoo._registry`` from
   the exporters, no ``zoo.exporters._base`` from the benchmarks.

The layers, lowest first: ``core`` (``zoo.*`` recipes, registry, families, data, errors),
``exporters`` (``zoo.exporters.*``), ``benchmarks`` (``zoo.benchmarks.*``) and ``app``
(``zoo.cli``, ``zoo.cards``). The ``zoo`` package itself is the facade: its functions
import the layers lazily; at module level it imports the core only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

LAYERS = {"core": 0, "exporters": 1, "benchmarks": 2, "app": 3}
APP = {"zoo.cli", "zoo.cards", "zoo.doctor", "zoo.__main__"}
SOURCE_ROOTS = {
    "zoo": ROOT / "zoo",
    "zoo.exporters": ROOT / "export",
    "zoo.benchmarks": ROOT / "benchmarks",
}
#: Facade functions of ``zoo`` that run a higher layer: lower layers must not call them.
FACADE_ABOVE = {"export": "exporters", "check": "exporters", "bench": "benchmarks"}


def modules() -> dict[str, Path]:
    found = {}
    for package, root in SOURCE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> str:
    if module in APP:
        return "app"
    for prefix in ("zoo.benchmarks", "zoo.exporters"):
        if module == prefix or module.startswith(prefix + "."):
            return prefix.split(".")[1]
    return "core"


def home(module: str) -> str:
    """The package whose private modules ``module`` may use: its layer's root."""
    name = layer(module)
    return "zoo" if name in ("core", "app") else f"zoo.{name}"


def imports(module: str, path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module or ``zoo.<attr>``, at module level) for every import."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{a.name}", id(node) in top) for a in node.names]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "zoo"
            and node.attr in FACADE_ABOVE
        ):
            found.append((node.lineno, f"zoo.{node.attr}", False))
    return found


def resolve(target: str, known: dict[str, Path]) -> tuple[str, str | None]:
    """The module an import names (longest known prefix) and, for ``zoo.X``, the facade name."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            rest = parts[end:]
            return candidate, (rest[0] if candidate == "zoo" and rest else None)
    return target, None


def violations() -> list[str]:
    known = modules()
    found = []
    for module, path in known.items():
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, target, top_level in imports(module, path):
            if not target.startswith("zoo"):
                continue
            imported, facade_name = resolve(target, known)
            if imported not in known:
                continue
            if module == "zoo":
                if top_level and layer(imported) != "core":
                    found.append(f"{where}:{line}: the facade imports {imported} at module level")
                continue
            target_layer = (
                FACADE_ABOVE.get(facade_name, "core") if imported == "zoo" else layer(imported)
            )
            if LAYERS[target_layer] > LAYERS[layer(module)]:
                found.append(
                    f"{where}:{line}: {module} ({layer(module)}) imports {target} ({target_layer})"
                )
            private = [p for p in imported.split(".")[1:] if p.startswith("_")]
            if (
                private
                and home(imported) != home(module)
                and not imported.startswith(home(module) + ".")
            ):
                found.append(f"{where}:{line}: {module} reaches into private {imported}")
    return found


def test_every_module_is_found():
    known = modules()
    assert {"zoo", "zoo.cli", "zoo.exporters.formats.onnx", "zoo.benchmarks._worker"} <= set(known)
    assert layer("zoo.exporters.formats.onnx") == "exporters"
    assert layer("zoo.cards") == "app"


def test_imports_go_one_way_through_public_names():
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("zoo.exporters.verify", "from zoo.benchmarks import run\n", "imports zoo.benchmarks.run"),
        ("zoo.exporters.verify", "import zoo\nzoo.bench('x')\n", "imports zoo.bench"),
        ("zoo.benchmarks._run", "from zoo.cli import main\n", "imports zoo.cli.main"),
        (
            "zoo.benchmarks._run",
            "from zoo.exporters._base import Runner\n",
            "private zoo.exporters._base",
        ),
        ("zoo.exporters.verify", "from zoo._registry import REGISTRY\n", "private zoo._registry"),
        (
            "zoo._build",
            "def f():\n    from zoo.exporters import export_model\n",
            "imports zoo.exporters",
        ),
    ],
)
def test_a_violation_is_caught(tmp_path, monkeypatch, module, source, expected):
    """The checker is not vacuous: each kind of bad import is reported."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    known = modules()
    known[module] = path
    monkeypatch.setattr(__import__(__name__), "modules", lambda: known)
    found = violations()
    assert any(expected in v for v in found), found
