"""A non-editable install ships the recipes: build the wheel, install it, list from outside."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "runs",
    "artifacts",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
)


@pytest.mark.slow
def test_wheel_ships_recipes_and_lists_outside_the_tree(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("zoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    recipes = sorted(p.name for p in (ROOT / "recipes").glob("*.toml"))
    assert sorted(Path(n).name for n in names if n.startswith("zoo/_recipes/")) == recipes
    # One top-level package: export/ and benchmarks/ install as zoo.exporters, zoo.benchmarks.
    assert {n.split("/")[0] for n in names} == {"zoo", "zoo-0.1.0.dist-info"}
    assert "zoo/exporters/formats/onnx.py" in names
    assert "zoo/benchmarks/_worker.py" in names
    # every module of every source folder ships (a subpackage missing from setup.cfg would not)
    homes = {"zoo": "zoo", "export": "zoo/exporters", "benchmarks": "zoo/benchmarks"}
    modules = {
        f"{home}/{path.relative_to(ROOT / folder).as_posix()}"
        for folder, home in homes.items()
        for path in (ROOT / folder).rglob("*.py")
    }
    assert modules - set(names) == set()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(vpy),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # Dependencies (pydantic, rich) come from the dev venv's site-packages as a plain path:
    # its .pth files (the editable zoo finder among them) are not processed from there.
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run(
        [str(vpy), "-c", "import zoo; print(zoo.__file__)"],
        capture_output=True,
        text=True,
        cwd=outside,
        check=True,
    )
    assert where.stdout.strip().startswith(str(venv))
    _assert_only_zoo_is_importable(vpy, outside)
    proc = subprocess.run(
        [str(venv / "bin" / "zoo"), "list"],
        capture_output=True,
        text=True,
        cwd=outside,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == sorted(p.removesuffix(".toml") for p in recipes)


def _assert_only_zoo_is_importable(python: Path, cwd: Path) -> None:
    code = (
        "import importlib.util as u, zoo.exporters.formats, zoo.benchmarks;"
        "print([m for m in ('export', 'benchmarks', 'recipes') if u.find_spec(m)])"
    )
    proc = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_editable_install_exposes_only_zoo(tmp_path):
    """The dev venv's editable install maps export/ and benchmarks/ inside zoo, no more."""
    _assert_only_zoo_is_importable(Path(sys.executable), tmp_path)
