"""Built-in model families, one module each, imported when a recipe needs them.

Every public module here is a family whose module name is the family name (none imports
TensorFlow at module level), so a new family is a new file: no list to edit. Importing this
package registers nothing; :func:`zoo._family.find_family` imports the module a recipe
names on first use, and :func:`load_all` imports them all (to list every family).
"""

from __future__ import annotations

import importlib
import pkgutil


def builtin_names() -> list[str]:
    """Names of the built-in family modules, sorted (nothing is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> bool:
    """Import the built-in family module ``name`` (which registers it), if there is one.

    Returns:
        Whether such a module exists.
    """
    if name.startswith("_") or name not in builtin_names():
        return False
    importlib.import_module(f"{__name__}.{name}")
    return True


def load_all() -> None:
    """Import every built-in family module."""
    for name in builtin_names():
        importlib.import_module(f"{__name__}.{name}")


def register_keras_objects() -> None:
    """Register the Keras classes built-in families define (imports Keras and keras-hub).

    ``keras.saving.load_model`` finds a ``.keras`` file's custom classes only once they are
    registered in the process; building a model registers them, a process that only loads
    calls this first (``bert_classifier`` files hold ``"zoo>ZooBertBackbone"``, audio
    towers ``"zoo>LogMelSpectrogram"``).

    Example:
        >>> import keras  # doctest: +SKIP
        >>> register_keras_objects()  # doctest: +SKIP
        >>> model = keras.saving.load_model("bert_classifier.keras")  # doctest: +SKIP
    """
    from zoo.families._audio import log_mel_class
    from zoo.families._bert_activation import backbone_class

    backbone_class()
    log_mel_class()
