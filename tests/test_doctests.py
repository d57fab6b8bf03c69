"""Docstring examples run: one case per module of the zoo namespace that has examples.

Modules are found with :func:`pkgutil.walk_packages` over ``zoo``, ``zoo.exporters`` and
``zoo.benchmarks``; a module is a case when its source holds ``>>>`` (so collection imports
nothing heavy) and the case imports it and runs its examples. Examples that export, benchmark
or train are marked ``# doctest: +SKIP`` in the docstrings; the rest really run. Every
example sees ``zoo`` as a global, as user code written against the public API would.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import zoo

PACKAGES = ("zoo", "zoo.exporters", "zoo.benchmarks")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    """Names of the namespace's modules whose source has a ``>>>`` example."""
    found = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        infos = [(package, Path(root.__file__))]
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
            if spec is not None and spec.origin:
                infos.append((info.name, Path(spec.origin)))
        found += [name for name, path in infos if ">>>" in path.read_text(encoding="utf-8")]
    return sorted(set(found))


MODULES = modules_with_examples()


def test_modules_are_found():
    assert {"zoo", "zoo.registry", "zoo.exporters.tolerances"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes stays in a scratch folder
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name, extraglobs={"zoo": zoo})
    tests = [t for t in tests if t.examples]
    assert tests, f"{name}: '>>>' in the source but no docstring example found"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
