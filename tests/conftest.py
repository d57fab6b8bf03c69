"""Shared fixtures: registry names, isolation of user recipe folders, subprocess helper.

Parallel runs (``make test``: pytest-xdist, one worker per core and at most two,
``--dist loadgroup``): each worker gets its share of the cores, the tests that share a
module- or session-scoped fixture of this suite run on one worker (so the fixture is built
once), and heavy tests (marker ``heavy``, left out by ``make test-fast``) are handed out first.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo
from zoo._registry import ENV_VAR, REGISTRY

# Under pytest-xdist, split the cores between the workers before TensorFlow, OpenMP or
# OpenBLAS size their thread pools (importing zoo loads none of them); the subprocesses the
# tests start inherit the split. Two workers each using every core would oversubscribe the
# machine. An explicit setting wins.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _var in (
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    ):
        os.environ.setdefault(_var, _THREADS)

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
ALL_MODELS = zoo.list()
TINY_MODELS = [n for n in ALL_MODELS if n.endswith("_tiny")]
FULL_MODELS = [n for n in ALL_MODELS if not n.endswith("_tiny")]

# Tests that take ten seconds or more each on a 2-core machine: marked ``heavy``.
# HEAVY_TESTS are node id prefixes; every test using one of HEAVY_FIXTURES (``<module>.<name>``)
# is heavy too.
HEAVY_TESTS = (
    # the full ResNet50 base converted and validated: 6-50 s per format
    "tests/test_models.py::test_export_parity_at_two_batch_sizes[resnet50_transfer_tiny-",
    # zoo bench / python -m benchmarks end to end: an export and timed workers, 25-40 s
    "tests/test_cli.py::test_bench_prints_table_and_writes_report",
    "tests/test_cli.py::test_python_m_benchmarks",
    "tests/test_bench.py::test_run_writes_parseable_reports",
    "tests/test_bench.py::test_a_stored_export_is_reused_by_content_key_not_copied_per_run",
    # two `zoo verify` processes
    "tests/test_verify.py::test_cli_verify_exit_codes",
    # verify of corrupt SavedModels: a child process importing TensorFlow each, 9-14 s
    "tests/test_runtime_safety.py::test_corrupt_artifact_files_are_detected_and_named",
    "tests/test_runtime_safety.py::test_corrupt_variables_shard_is_detected",
    # zoo fit / export --from as commands: a process each, training or exporting, 9-12 s
    "tests/test_fit.py::test_fit_cli_prints_the_held_out_metrics",
    "tests/test_fit.py::test_export_from_run_uses_its_validation_rows",
    "tests/test_fit.py::test_export_from_a_bare_keras_file",
    # data matched to the BERT and ResNet50 tiny models, two fit steps each
    "tests/test_data_load.py::test_elements_match_the_model_and_keras_fit_runs[bert_",
    "tests/test_data_load.py::test_elements_match_the_model_and_keras_fit_runs[resnet50_",
    # a TF Hub backbone exported to every format and validated
    "tests/test_family_hub.py::test_exports_are_validated_and_self_contained",
    # dual encoders trained 15 epochs per objective (10-20 s), the 16 kHz audio tower
    # exported to three formats on synthesized speech
    "tests/test_family_dual_encoder.py::test_each_objective_learns_the_digit_pairs",
    "tests/test_family_dual_encoder.py::test_audio_text_pairs_learn",
    "tests/test_family_dual_encoder.py::test_audio_tower_matches_keras_on_real_speech",
    "tests/test_family_dual_encoder.py::test_zoo_fit_trains_a_pair_model_and_export_from",
    # knowledge fusion: one epoch and two exports per graph (10-13 s), digit-pairs training
    "tests/test_family_knowledge_fusion.py::test_modalities_and_fusion_train_and_export",
    "tests/test_family_knowledge_fusion.py::test_tiny_learns_digit_pairs_matching_held_out",
    # zoo doctor: every format of the tiny fusion model converted, loaded and run (~20 s)
    "tests/test_doctor.py::test_every_format_and_runtime_works_here",
    # RSS slopes: 50 LiteRT/onnxruntime/OpenVINO cycles (~10 s); 8 build, .keras and
    # SavedModel cycles of about 1 s each in a TensorFlow process (~25 s)
    "tests/test_memory.py::test_runtimes_without_tensorflow_do_not_leak",
    "tests/test_memory.py::test_tensorflow_runtimes_do_not_leak",
)
HEAVY_FIXTURES = (
    # python -m zoo.benchmarks.quant_sweep end to end: train, export, time, about 50 s
    "test_quant_sweep.run",
    # 20 SIGKILLed exports and two concurrent ones in a forking process, 60-90 s
    "test_export_safety.soak_result",
)


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Each test starts with only the built-in recipes."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    saved = list(REGISTRY._extra_dirs)
    REGISTRY._extra_dirs.clear()
    REGISTRY._entries = None
    yield
    REGISTRY._extra_dirs[:] = saved
    REGISTRY._entries = None


@pytest.fixture(scope="session")
def fusion_export(tmp_path_factory):
    """cnn_lstm_fusion_tiny exported in all its formats (seed 0), shared read-only.

    Tests read it or copy it; one that writes into it must make its own export instead.
    """
    from zoo.exporters import export_model

    return export_model("cnn_lstm_fusion_tiny", tmp_path_factory.mktemp("fusion"), seed=0)


def toml_value(value) -> str:
    """A Python value (bool, str, number, list of numbers) as a TOML value, for test recipes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600
):
    """Run the installed ``zoo`` command; return the CompletedProcess."""
    exe = Path(sys.executable).with_name("zoo")
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------- collection: marks, order


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """The fixtures from tests/ wider than function scope that ``item`` uses, one key per
    instance: ``<module>.<name>`` for module scope, ``<name>`` for session scope."""
    info = getattr(item, "_fixtureinfo", None)
    keys = []
    for name in info.names_closure if info else ():
        defs = info.name2fixturedefs.get(name)
        if not defs or defs[-1].scope == "function":
            continue
        fixturedef = defs[-1]
        source = inspect.getsourcefile(fixturedef.func)
        if source is None or TESTS not in Path(source).resolve().parents:
            continue  # pytest's own (tmp_path_factory, ...)
        if fixturedef.scope in ("class", "module"):
            keys.append(f"{item.path.stem}.{name}")
        else:  # package or session: one instance per run
            keys.append(name)
    return keys


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark ``heavy`` tests; under xdist, group tests by shared fixtures, heavy first.

    Runs before pytest's ``-m`` selection and before xdist reads the ``xdist_group`` marks.
    """
    shared = [_shared_fixtures(item) for item in items]
    for item, keys in zip(items, shared, strict=True):
        if item.nodeid.startswith(HEAVY_TESTS) or set(keys) & set(HEAVY_FIXTURES):
            item.add_marker(pytest.mark.heavy)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a serial run keeps the file order
    # Tests linked through any shared fixture form one group (union-find over the keys), so
    # --dist loadgroup runs them on one worker and each fixture is set up once.
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for keys in shared:
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    units = []  # the scheduling unit of each item: its group, or itself
    for item, keys in zip(items, shared, strict=True):
        if keys:
            group = root(keys[0])
            item.add_marker(pytest.mark.xdist_group(group))
            if config.getoption("loadgroup", False):
                _group_suffix(item, group)
            units.append(group)
        else:
            units.append(item.nodeid)
    # Heavy units first (a stable sort: file order otherwise), so that the last tests handed
    # out are short ones and both workers finish at about the same time.
    heavy = {u for u, item in zip(units, items, strict=True) if item.get_closest_marker("heavy")}
    first: dict[str, int] = {}
    for index, u in enumerate(units):
        first.setdefault(u, index)
    order = sorted(range(len(items)), key=lambda i: (units[i] not in heavy, first[units[i]]))
    items[:] = [items[i] for i in order]


def _group_suffix(item: pytest.Item, group: str) -> None:
    """Give ``item`` the ``@group`` node id suffix that ``--dist loadgroup`` schedules by.

    pytest 9.2 derives ``nodeid`` from the structured ``item._id``; pytest-xdist 3.8 still
    writes the suffix into the old ``_nodeid`` field, where it is ignored, so loadgroup
    silently stops grouping (pytest-dev/pytest-xdist#1386, fix pending in #1388). Drop this
    once the pinned xdist has the fix (a second suffix would be harmless meanwhile).
    """
    if hasattr(item, "_id") and not item.nodeid.endswith(f"@{group}"):
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(f"{item.nodeid}@{group}")
