"""Known-bad library versions are refused at ``import zoo``, from metadata alone."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest

import zoo
from zoo.errors import UnsupportedVersionError, ZooError
from zoo.versions import MINIMUM_VERSIONS, check_versions, is_older, parse_version


@pytest.mark.parametrize(
    ("installed", "minimum", "older"),
    [
        ("3.15.0", "3.15.1", True),
        ("3.15.1rc1", "3.15.1", True),
        ("3.15.1.dev0", "3.15.1", True),
        ("3.0.0", "3.15.1", True),
        ("2.99", "3.15.1", True),
        ("1.20.1", "1.21", True),
        ("1.21.0rc2", "1.21", True),
        ("3.15.1", "3.15.1", False),
        ("3.15.1.post1", "3.15.1", False),
        ("3.15.1+cpu", "3.15.1", False),
        ("3.16.0", "3.15.1", False),
        ("4.0", "3.15.1", False),
        ("1.21.0", "1.21", False),
        ("1.23.2", "1.21", False),
        ("unknown", "1.21", False),
    ],
)
def test_is_older(installed, minimum, older):
    assert is_older(installed, minimum) is older


def test_parse_version():
    assert parse_version("1.21.0") == ((1, 21), False)
    assert parse_version("v2.0b1") == ((2,), True)
    assert parse_version("nightly") is None


def test_minimums_are_the_documented_ones():
    assert {d: m.version for d, m in MINIMUM_VERSIONS.items()} == {
        "keras": "3.15.1",
        "onnx": "1.21",
    }


def _fake_versions(monkeypatch, **versions):
    real = metadata.version

    def version(dist):
        if dist in versions:
            if versions[dist] is None:
                raise metadata.PackageNotFoundError(dist)
            return versions[dist]
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)


@pytest.mark.parametrize(
    ("dist", "old", "minimum"), [("keras", "3.15.0", "3.15.1"), ("onnx", "1.20.1", "1.21")]
)
def test_an_old_version_is_refused_with_the_fix(monkeypatch, dist, old, minimum):
    _fake_versions(monkeypatch, **{dist: old})
    with pytest.raises(UnsupportedVersionError) as caught:
        check_versions()
    err = caught.value
    assert isinstance(err, ZooError) and isinstance(err, ImportError)
    assert (err.package, err.installed, err.minimum) == (dist, old, minimum)
    message = str(err)
    assert f"{dist} {old} is installed" in message
    assert f"{dist}>={minimum}" in message
    assert f"pip install '{dist}>={minimum}'" in message


def test_every_offender_is_listed(monkeypatch):
    _fake_versions(monkeypatch, keras="3.0.0", onnx="1.16.0")
    with pytest.raises(UnsupportedVersionError) as caught:
        check_versions()
    message = str(caught.value)
    assert "keras 3.0.0" in message and "onnx 1.16.0" in message
    assert caught.value.package == "keras"


def test_new_or_missing_versions_pass(monkeypatch):
    _fake_versions(monkeypatch, keras="3.15.1", onnx=None)
    check_versions()  # a missing optional-at-import library is left to the code needing it


def test_the_installed_environment_passes():
    check_versions()
    assert zoo.__version__


def test_an_old_keras_dist_makes_import_zoo_fail(tmp_path):
    """A fake ``keras-3.0.0.dist-info`` first on sys.path shadows the real metadata."""
    info = tmp_path / "keras-3.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: keras\nVersion: 3.0.0\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = (
        "import sys\n"
        "from importlib import metadata\n"
        "print('keras metadata', metadata.version('keras'), flush=True)\n"
        "import zoo\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "keras metadata 3.0.0" in proc.stdout, (proc.stdout, proc.stderr)  # shadowed
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("zoo.errors.UnsupportedVersionError: keras 3.0.0 is installed")
    assert "pip install 'keras>=3.15.1'" in last
