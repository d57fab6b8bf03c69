"""Typed, versioned records: ``manifest.json`` (exports) and ``results.json`` (bench runs)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from pydantic import ValidationError
from zoo.benchmarks.results import SCHEMA_VERSION as RESULTS_VERSION
from zoo.benchmarks.results import load_results, write_results
from zoo.exporters import export_model
from zoo.exporters._atomic import sha256_path
from zoo.exporters.manifest import (
    SCHEMA_VERSION,
    Manifest,
    field_path,
    load_manifest,
    manifest_from_data,
)

from zoo import ZooError

NAME = "cnn_lstm_fusion_tiny"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_model(NAME, tmp_path_factory.mktemp("records"), formats=["keras"], seed=0)


@pytest.fixture
def copy_of(exported, tmp_path):
    """A fresh copy of the export folder and a function that rewrites its manifest."""
    folder = tmp_path / NAME
    shutil.copytree(exported.path, folder)

    def rewrite(change):
        data = json.loads((folder / "manifest.json").read_text())
        change(data)
        (folder / "manifest.json").write_text(json.dumps(data, indent=2))
        return folder

    return rewrite


def raised(call, *args) -> str:
    """The message of the ZooError ``call(*args)`` raises (never a pydantic error)."""
    with pytest.raises(ZooError) as exc:
        call(*args)
    assert not isinstance(exc.value, ValidationError)
    shown_context = None if exc.value.__suppress_context__ else exc.value.__context__
    assert exc.value.__cause__ is None and shown_context is None  # no pydantic traceback
    return str(exc.value)


# --- manifest.json -------------------------------------------------------------------


def test_a_real_manifest_round_trips_byte_for_byte(exported):
    text = (exported.path / "manifest.json").read_text()
    assert text.splitlines()[1] == f'  "schema_version": {SCHEMA_VERSION},'
    manifest = load_manifest(exported.path)
    assert isinstance(manifest, Manifest) and manifest.schema_version == SCHEMA_VERSION
    assert manifest.to_json() == text
    assert load_manifest(exported.path / "manifest.json").to_json() == text
    assert manifest_from_data(exported.manifest).to_json() == text
    assert exported.record == manifest
    # every key but schema_version is sorted, as the writer always did
    body = {k: v for k, v in json.loads(text).items() if k != "schema_version"}
    assert text == (
        "{\n"
        + f'  "schema_version": {SCHEMA_VERSION},\n'
        + json.dumps(body, indent=2, sort_keys=True)[2:]
        + "\n"
    )
    art = manifest.artifacts["keras"]
    assert art.sha256 == sha256_path(exported.path / art.path)
    assert art.tolerance.atol > 0 and art.was_validated and all(p.ok for p in art.parity)
    assert manifest.golden is not None and manifest.export_stats is not None
    assert manifest.formats_requested == ["keras"] and manifest.failed == {}
    assert manifest.inputs.keys() == {"image", "tokens"}


def test_format_fields_survive_as_extras(copy_of):
    def add(data):
        data["artifacts"]["keras"]["conversion_attempts"] = [{"ok": True}]
        data["artifacts"]["keras"]["float_compute_ops"] = ["CONV_2D"]

    folder = copy_of(add)
    manifest = load_manifest(folder)
    art = manifest.artifacts["keras"]
    assert art.extra("conversion_attempts") == [{"ok": True}]
    assert art.extra("float_compute_ops") == ["CONV_2D"]
    assert art.extra("no_such_field", 7) == 7
    again = json.loads(manifest.to_json())["artifacts"]["keras"]
    assert again["conversion_attempts"] == [{"ok": True}]


def test_a_manifest_without_schema_version_is_read_as_version_1(copy_of):
    folder = copy_of(lambda data: data.pop("schema_version"))
    assert load_manifest(folder).schema_version == 1


@pytest.mark.parametrize("version", [2, 99])
def test_a_newer_manifest_is_refused_with_the_fix(copy_of, version):
    folder = copy_of(lambda data: data.update(schema_version=version))
    message = raised(load_manifest, folder)
    assert str(folder / "manifest.json") in message
    assert f"schema_version {version} is newer than this zoo reads (1 to 1)" in message
    assert "Upgrade zoo" in message


@pytest.mark.parametrize("value", ["1", 1.0, None, True, 0])
def test_a_schema_version_that_is_not_a_known_int_is_refused(copy_of, value):
    folder = copy_of(lambda data: data.update(schema_version=value))
    message = raised(load_manifest, folder)
    assert f"schema_version is {value!r}" in message
    assert "expected an integer from 1 to 1" in message and "zoo export" in message


def test_a_missing_field_is_refused_with_its_path(copy_of):
    folder = copy_of(lambda data: data["artifacts"]["keras"].pop("sha256"))
    message = raised(load_manifest, folder)
    assert message.startswith(f"{folder / 'manifest.json'}: artifacts.keras.sha256 is missing")
    assert "expected the manifest.json written by `zoo export`" in message.lower()
    assert "Re-export the model with `zoo export NAME`" in message


def test_a_wrong_type_names_what_was_received(copy_of):
    folder = copy_of(lambda data: data["artifacts"]["keras"].update(bytes="big"))
    message = raised(load_manifest, folder)
    assert "artifacts.keras.bytes is 'big'; expected a valid integer" in message
    folder = copy_of(lambda data: data.pop("artifacts"))
    assert "artifacts is missing (required)" in raised(load_manifest, folder)


def test_not_a_manifest(tmp_path):
    assert "no manifest.json" in raised(load_manifest, tmp_path)
    assert "no manifest.json (no such folder)" in raised(load_manifest, tmp_path / "nowhere")
    (tmp_path / "manifest.json").write_text("{")
    assert "not valid JSON" in raised(load_manifest, tmp_path)
    (tmp_path / "manifest.json").write_text("[]")
    assert "received list; expected a JSON object" in raised(load_manifest, tmp_path)


def test_field_paths_read_like_python():
    assert field_path(("rows", 0, "stats", "p50_ms")) == "rows[0].stats.p50_ms"
    assert field_path(("artifacts", "tflite:int8", "bytes")) == "artifacts['tflite:int8'].bytes"
    assert field_path(()) == ""


def test_readers_refuse_a_newer_manifest(copy_of):
    from zoo.benchmarks import _store
    from zoo.exporters import verify

    folder = copy_of(lambda data: data.update(schema_version=SCHEMA_VERSION + 1))
    assert "is newer than this zoo reads" in raised(verify, folder)
    assert _store.intact(folder) is None  # a stored export zoo cannot read is made again


# --- results.json --------------------------------------------------------------------


def results_data(**changes):
    """A minimal results.json of the current schema."""
    row = {
        "backend": "onnx:fp32",
        "runtime": "onnxruntime",
        "precision": "fp32",
        "description": "onnxruntime",
        "batch": 1,
        "threads": 2,
        "stats": {"n": 30, "p50_ms": 0.7, "ci95_low_ms": 0.69, "ci95_high_ms": 0.71},
        "self_check": {"calls": 30, "ratio": 1.01},
        "skipped": None,
    }
    data = {
        "schema_version": RESULTS_VERSION,
        "name": NAME,
        "created": "2026-11-24T19:30:00+00:00",
        "settings": {"batches": [1], "threads": [2], "quick": True, "seed": 0, "max_seconds": 1},
        "environment": {"cpu": {"model": "x", "flags": [], "cores": 2}, "git_commit": "abc"},
        "export": {"path": "runs/x/artifacts/m", "parity": {"keras": float("nan")}},
        "rows": [row],
        "recommended": {"fp32": "onnx:fp32"},
    }
    data.update(changes)
    return data


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def test_results_round_trip(tmp_path):
    file = write(tmp_path / "run" / "results.json", results_data())
    results = load_results(tmp_path / "run")
    assert results.schema_version == RESULTS_VERSION
    assert results.rows[0].stats.p50_ms == 0.7 and results.rows[0].stats.ci == (0.69, 0.71)
    assert results.settings.quick and results.settings.model_extra["max_seconds"] == 1
    assert results.rows[0].self_check == {"calls": 30, "ratio": 1.01}  # ints stay ints
    assert results.to_json() == file.read_text()
    out = write_results(results, tmp_path / "again.json")  # a file path: written there
    assert out.read_text() == file.read_text()


def test_an_old_results_file_with_schema_1_is_read_as_version_1(tmp_path):
    old = results_data()
    del old["schema_version"]
    old = {"schema": 1, **old}
    results = load_results(write(tmp_path / "results.json", old))
    assert results.schema_version == 1
    data = results.as_data()
    assert next(iter(data)) == "schema_version" and "schema" not in data


@pytest.mark.parametrize("key", ["schema_version", "schema"])
def test_newer_results_are_refused(tmp_path, key):
    data = results_data()
    del data["schema_version"]
    data[key] = RESULTS_VERSION + 1
    message = raised(load_results, write(tmp_path / "results.json", data))
    assert str(tmp_path / "results.json") in message
    assert "is newer than this zoo reads" in message and "Upgrade zoo" in message


def test_results_with_a_missing_or_mistyped_field_are_refused(tmp_path):
    data = results_data()
    del data["rows"][0]["threads"]
    message = raised(load_results, write(tmp_path / "a" / "results.json", data))
    assert "rows[0].threads is missing (required)" in message
    assert "Re-run `zoo bench`" in message
    data = results_data()
    data["rows"][0]["batch"] = "1"
    message = raised(load_results, write(tmp_path / "b" / "results.json", data))
    assert "rows[0].batch is '1'; expected a valid integer" in message
    data = results_data(rows=[results_data()["rows"][0]] * 2)
    message = raised(load_results, write(tmp_path / "c" / "results.json", data))
    assert "rows[1] repeats backend 'onnx:fp32' at batch 1, threads 2" in message
    data = copy.deepcopy(results_data())
    del data["name"]
    assert "name is missing" in raised(load_results, write(tmp_path / "d" / "results.json", data))
