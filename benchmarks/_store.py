"""Exports kept once per content key under ``runs/.exports``, shared by benchmark runs.

``zoo bench NAME`` used to export into every run folder (1.2 GB per quick run of the
full-size ``cnn_lstm_fusion``). An export is now stored under a key that hashes everything
its artifacts depend on: the model name, its resolved recipe and overrides, the seed, the
formats, the versions of Python and of the libraries that convert and run it, and the source of the
``zoo`` and ``export`` packages. A run whose key is already stored, with every artifact's
sha256 still matching its manifest, times that export instead of making a new one; the run
folder's ``artifacts`` is a relative symlink to it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from zoo.exporters import library_versions, sha256_path
from zoo.exporters.manifest import Manifest, load_manifest

#: Folder under the runs folder that holds the stored exports.
STORE = ".exports"

#: Libraries whose version changes what an export contains or how it runs.
LIBRARIES = (
    "tensorflow",
    "keras",
    "keras-hub",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
    "protobuf",
)


def export_key(name: str, *, formats: list[str], seed: int, overrides: dict[str, Any]) -> str:
    """A 16-hex-digit key for an export of ``name`` with these settings and this code.

    Example:
        >>> export_key("cnn_lstm_fusion", formats=["keras"], seed=0, overrides={})  # doctest: +SKIP
        '3f9c0a1be2d47c55'
        >>> len(export_key("cnn_lstm_fusion", formats=["keras"], seed=0, overrides={}))
        16
    """
    import zoo

    facts = {
        "name": name,
        "recipe": zoo.info(name, **overrides),
        "overrides": overrides,
        "seed": seed,
        "formats": formats,
        "versions": library_versions(LIBRARIES),
        "code": _source_digest(),
    }
    blob = json.dumps(facts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def intact(folder: Path) -> Manifest | None:
    """The manifest of a stored export whose artifacts all match their sha256, else ``None``.

    A missing or unreadable manifest (e.g. from an older or newer zoo) also gives ``None``:
    the export is then made again.
    """
    try:
        manifest = load_manifest(folder)  # ZooError is a ValueError
        for art in manifest.artifacts.values():
            if sha256_path(folder / art.path) != art.sha256:
                return None
    except (OSError, ValueError):
        return None
    return manifest


def link(run_dir: Path, stored: Path) -> Path:
    """Point ``run_dir/artifacts`` at the stored export's parent folder (relative symlink)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / "artifacts"
    if target.is_symlink():
        target.unlink()  # a run started in the same second: the newest link wins
    target.symlink_to(os.path.relpath(stored.parent, run_dir), target_is_directory=True)
    return target


def _source_digest() -> str:
    """sha256 over the source files of the ``zoo`` and ``export`` packages."""
    import zoo
    from zoo import exporters as export

    digest = hashlib.sha256()
    for package in (zoo, export):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def export_apart(
    name: str, out: Path, *, formats: list[str], seed: int, overrides: dict[str, Any]
) -> Manifest:
    """Export ``name`` into ``out`` in a fresh child process; return the manifest.

    The benchmark process then never loads TensorFlow, so what the export leaves behind
    (TensorFlow keeps gigabytes after converting a large model) is returned to the system
    before the timed workers start, instead of sitting beside each of them.

    Raises:
        ValidationFailed: an artifact did not match Keras (``format`` is set).
        ZooError: any other export error, with its message.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from zoo.errors import ZooError

    # An executor, not a multiprocessing.Pool: a Pool waits forever for a child that died
    # (killed for memory, a native crash); the executor raises BrokenProcessPool.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            outcome = pool.submit(_export_job, name, str(out), formats, seed, overrides).result()
        except BrokenProcessPool as exc:
            raise ZooError(
                f"the export of {name!r} into {out} died in its child process ({exc}); "
                "expected it to finish or report an error. It was probably killed for memory: "
                f"check free memory, or run `zoo export {name}` to see where it stops."
            ) from exc
    if outcome[0] == "ok":
        return load_manifest(out / name)
    _, kind, message, fmt = outcome
    from zoo.exporters import ValidationFailed

    error = ValidationFailed(message) if kind == "ValidationFailed" else ZooError(message)
    if fmt is not None:
        error.format = fmt  # type: ignore[attr-defined]
    raise error


def _export_job(
    name: str, out: str, formats: list[str], seed: int, overrides: dict[str, Any]
) -> tuple[Any, ...]:
    """Runs in the child: the export, with zoo's own errors returned as plain data."""
    from zoo.exporters import export_model

    from zoo.errors import ZooError

    try:
        export_model(name, Path(out), formats=formats, seed=seed, **overrides)
    except ZooError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "format", None))
    return ("ok",)
