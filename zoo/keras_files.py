"""Load ``.keras`` files handed to zoo by others: safe mode, recorded hashes, clear errors.

A ``.keras`` archive is data (a JSON config and weights) unless it holds a ``Lambda`` layer,
whose Python bytecode runs when the file loads. Every ``.keras`` file zoo reads (``zoo
export --from``, a ``zoo fit`` run's model, an export's ``keras`` artifact) goes through
:func:`load_keras`: Keras' ``safe_mode=True`` refuses code-carrying layers, and zoo turns the
refusal into an error that says how to opt in for a file one trusts. Where a sha256 of the
file was recorded (a run's ``run.json``, an export's manifest), it is checked before Keras
opens the file.

Example:
    >>> from zoo.keras_files import load_keras
    >>> model = load_keras("model.keras")  # doctest: +SKIP
    >>> trusted = load_keras("mine.keras", trust_code=True)  # runs its code  # doctest: +SKIP
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

#: How a user opts in to running a file's code, per entry point.
OPT_IN = (
    "If you trust the file's author, opt in: `zoo export NAME --from FILE --trust-code`, or "
    "zoo.keras_files.load_keras(path, trust_code=True) (Keras' safe_mode=False)."
)


class UnsafeModelError(ZooError):
    """A ``.keras`` file holds code (a ``Lambda`` layer); refused under safe mode."""


class ModelFileError(ZooError):
    """A ``.keras`` file is missing, damaged, altered since its hash was recorded, or foreign."""


def load_keras(
    path: str | os.PathLike[str],
    *,
    trust_code: bool = False,
    sha256: str | None = None,
    what: str = "",
) -> Any:
    """Load a ``.keras`` archive with safe mode on unless the caller trusts its code.

    Args:
        path: The ``.keras`` file.
        trust_code: Load code-carrying layers (``Lambda``): ``safe_mode=False``. Only for
            a file whose author you trust; it runs their Python code.
        sha256: The file's recorded sha256; checked before Keras opens the file.
        what: Names the file's role in errors, e.g. ``"the run's model"``.

    Returns:
        The Keras model.

    Raises:
        ModelFileError: no such file, not a ``.keras`` archive, a hash mismatch, or a
            config Keras cannot rebuild (names the file and Keras' reason).
        UnsafeModelError: the file holds a ``Lambda`` layer and ``trust_code`` is off.
    """
    import warnings

    import keras

    from zoo.families import register_keras_objects

    path = Path(path).expanduser()
    label = f"{what} {path}".strip()
    if not path.is_file():
        raise ModelFileError(f"{label}: no such file; expected a .keras archive.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{label}: not a .keras archive (a .keras file is a zip of config.json and "
            "model.weights.h5); it is damaged or another format. Save it again with "
            "model.save('model.keras')."
        )
    if sha256 is not None:
        from zoo.weights import file_digest

        found = file_digest(path)
        if found != sha256:
            raise ModelFileError(
                f"{label}: sha256 {found} differs from the recorded {sha256}: the file was "
                "changed after it was written. Nothing was loaded. Restore the original file "
                "or produce it again (retrain / re-export)."
            )
    register_keras_objects()  # zoo's own classes ("zoo>ZooBertBackbone"), before loading
    try:
        with warnings.catch_warnings():
            # A compiled but untrained model saves 2 optimizer variables and rebuilds more on
            # load; Keras warns about skipping them. The weights themselves load in full.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, safe_mode=not trust_code)
    except Exception as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if "safe_mode" in text or "safe mode" in text:
            raise UnsafeModelError(
                f"{label}: refused: it holds a Lambda layer (or other Python code) that would "
                f"run when the file loads, and zoo loads files with Keras' safe_mode. {OPT_IN}"
            ) from None
        raise ModelFileError(
            f"{label}: Keras could not load it: {type(exc).__name__}: {first[:300]}. Expected a "
            "file saved by model.save() from keras>=3 with the layers zoo registers; re-save "
            "it or check its origin."
        ) from exc
