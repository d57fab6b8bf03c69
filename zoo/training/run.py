"""A training run folder: what ``zoo fit`` writes and ``zoo export --from`` reads back.

Layout of ``runs/<YYYYmmdd-HHMMSS>-<model>-fit/``:

================================ ======================================================
``model.keras``                  the trained model (best epoch by the monitored loss)
``run.json``                     recipe, parameters, settings, data source + fingerprint,
                                 strategy, versions, per-stage timings (:data:`RUN_FILE`)
``metrics.json``                 held-out metrics with 95% intervals and baselines
``report.txt``                   per-class precision / recall / F1 table
``confusion_matrix.png``         test-split confusion matrix
``learning_curves.png``          loss and metrics per epoch, train and validation
``history.csv``                  Keras ``CSVLogger`` output, every stage
``recipe.toml``                  the recipe file the model was built from
``vocabulary.txt``               the word vocabulary of a ``tokens`` input, if any
================================ ======================================================

The folder is written under a hidden staging name and renamed into place at the end, so
a crash or Ctrl-C never leaves a half-written run under a run's name.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fsync import fsync_one, fsync_tree

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
#: Version of the ``run.json`` layout.
SCHEMA_VERSION = 1


class RunFolder:
    """A run folder being written: files go to a staging folder until :meth:`commit`.

    Example:
        >>> run = RunFolder.create(Path("runs"), "cnn_lstm_fusion_tiny")  # doctest: +SKIP
        >>> (run.staging / "note.txt").write_text("hi")  # doctest: +SKIP
        >>> run.commit()  # doctest: +SKIP
        PosixPath('runs/20261203-150102-cnn_lstm_fusion_tiny-fit')
    """

    def __init__(self, final: Path, staging: Path):
        self.final = final
        self.staging = staging

    @classmethod
    def create(cls, out: Path, name: str) -> RunFolder:
        """Reserve ``out/<time>-<name>-fit`` (a suffix if taken) and make its staging folder."""
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        final = out / f"{stamp}-{name}-fit"
        n = 1
        while final.exists():
            n += 1
            final = out / f"{stamp}-{name}-fit-{n}"
        staging = out / f".{final.name}.staging-{os.getpid()}"
        staging.mkdir()
        return cls(final, staging)

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` as indented JSON into the staging folder.

        ``run.json`` also records the sha256 of ``model.keras`` (written before it), which
        :meth:`FitRun.load_model` checks before loading.
        """
        if name == RUN_FILE and (self.staging / MODEL_FILE).is_file():
            from zoo.weights import file_digest

            data = {**data, "model_sha256": file_digest(self.staging / MODEL_FILE)}
        path = self.staging / name
        path.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")
        return path

    def commit(self) -> Path:
        """Flush and move the staging folder to its final name; returns the final path."""
        fsync_tree(self.staging)
        os.replace(self.staging, self.final)
        fsync_one(self.final.parent)  # the rename itself
        return self.final

    def discard(self) -> None:
        """Remove the staging folder (after a failure): nothing is left under the run name."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _plain(value: Any) -> Any:
    """JSON fallback for NumPy scalars and paths."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


@dataclass(frozen=True)
class FitRun:
    """A finished run folder, read back (what ``zoo export --from`` uses).

    Attributes:
        path: The run folder.
        record: The parsed ``run.json``.
    """

    path: Path
    record: dict[str, Any]

    @property
    def name(self) -> str:
        """The registered model name the run trained (``None`` for an unregistered model)."""
        return str(self.record["model"]["name"])

    @property
    def overrides(self) -> dict[str, Any]:
        """Parameter overrides the model was built with (``num_classes`` included)."""
        return dict(self.record["model"].get("overrides", {}))

    def load_model(self, *, trust_code: bool = False) -> Any:
        """Load ``model.keras`` and remember its recipe for exports.

        Safe mode is on unless ``trust_code``; the file's sha256 must equal the one
        ``run.json`` recorded (runs written before zoo recorded it are not checked).
        """
        from zoo._build import Origin
        from zoo.keras_files import load_keras

        model = load_keras(
            self.path / MODEL_FILE,
            trust_code=trust_code,
            sha256=self.record.get("model_sha256"),
            what="the run's model",
        )
        if self.record["model"].get("registered", True):
            model.zoo_origin = Origin(self.name, self.overrides, self.record["model"].get("seed"))
        return model

    def data(self, model: Any) -> Any:
        """Rebuild the run's data splits for ``model``; the fingerprint must match.

        Raises:
            ZooError: the source now holds other data than at training time.
        """
        from zoo.data import splits

        call = dict(self.record["data"]["call"])
        source = call.pop("source")
        options = call.pop("options", {})
        data = splits(source, for_model=model, **call, **options)
        want = self.record["data"]["fingerprint"]
        if data.fingerprint != want:
            raise ZooError(
                f"run {self.path}: the data source {source!r} no longer holds the data the "
                f"model was trained on (fingerprint {data.fingerprint[:12]}…, recorded "
                f"{want[:12]}…). Restore the data, or export without --from and pass rows."
            )
        return data

    def export_rows(self, model: Any, *, limit: int = 256) -> dict[str, Any]:
        """Validation and calibration rows for export: the run's val split, else train.

        Never the test split: exports are validated on rows the model was tuned on or
        chose its epoch by, so the held-out metrics stay held out.
        """
        if self.record["data"].get("kind") == "pairs":
            from zoo.training._pair_fit import pair_rows

            return pair_rows(self.record, model, limit=limit)
        data = self.data(model)
        split = "val" if data.val is not None and data.counts.get("val") else "train"
        inputs, _ = data.arrays(split, limit)
        return dict(inputs)


def load_run(path: str | os.PathLike[str]) -> FitRun:
    """Read a run folder written by :func:`zoo.fit` (or the folder of its ``model.keras``).

    Raises:
        ZooError: no run there; the message says what was expected.

    Example:
        >>> run = load_run("runs/20261203-150102-cnn_lstm_fusion_tiny-fit")  # doctest: +SKIP
        >>> run.name  # doctest: +SKIP
        'cnn_lstm_fusion_tiny'
    """
    folder = Path(path).expanduser()
    if folder.suffix == ".keras":
        folder = folder.parent
    record_path = folder / RUN_FILE
    if not record_path.is_file() or not (folder / MODEL_FILE).is_file():
        raise ZooError(
            f"--from {os.fspath(path)!r}: expected a run folder written by `zoo fit` "
            f"(holding {RUN_FILE} and {MODEL_FILE}) or its {MODEL_FILE}; "
            f"{'found no ' + RUN_FILE if not record_path.is_file() else 'found no ' + MODEL_FILE}"
            f" in {folder}."
        )
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ZooError(f"{record_path}: not valid JSON ({exc}); the run is damaged.") from None
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version != SCHEMA_VERSION:
        raise ZooError(
            f"{record_path}: schema_version {version!r}, expected {SCHEMA_VERSION}; it was "
            "written by another zoo version: retrain with this one."
        )
    return FitRun(folder, record)
