"""Weight resolution: random, ImageNet through the Keras cache, or a local file.

A recipe names its weights with one plain string (recipes are TOML data):

- ``"none"``: random initialisation (seeded by ``zoo.get(..., seed=)``). ``None`` in Python
  means the same.
- ``"imagenet"``: the file Keras itself uses for ``weights="imagenet"``, looked up in the
  Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``) and downloaded there with
  ``keras.utils.get_file`` when missing. Offline, this fails with a :class:`WeightsError`
  that names the file and the two ways to supply it.
- a path ending in ``.weights.h5`` (Keras 3 weights) or ``.h5`` (legacy Keras HDF5, e.g. the
  Keras ImageNet file itself): loaded from disk; ``~`` is expanded, a relative path is read
  from the current directory. Pin the file by appending its sha256,
  ``"base.weights.h5#sha256=<64 hex digits>"``: a file with another digest is refused
  before Keras opens it.

Every resolution records a human "weights source" string and, for files, their sha256.
Nothing here imports Keras at module level; :func:`resolve` imports it only to download
and :func:`load_into` only to load.

Example:
    >>> from zoo import weights
    >>> weights.resolve("none").source
    'random initialisation (seeded by seed=)'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zoo.errors import ZooError, did_you_mean

NONE = "none"
IMAGENET = "imagenet"
#: Suffixes a local weights file may have, checked in this order.
LOCAL_SUFFIXES: tuple[str, ...] = (".weights.h5", ".h5")


class WeightsError(ZooError):
    """Weights were asked for that cannot be found, fetched or loaded."""


@dataclass(frozen=True)
class KerasWeightsFile:
    """A weights file Keras downloads into its cache for ``weights="imagenet"``.

    Attributes:
        fname: File name in the cache folder (the name Keras uses).
        origin: URL Keras downloads it from.
        file_hash: The hash Keras checks (32 hex digits: md5, 64: sha256).
        cache_subdir: Folder under the Keras home (``models`` for applications).
    """

    fname: str
    origin: str
    file_hash: str
    cache_subdir: str = "models"


_KERAS_RESNET = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"

#: The Keras-cache files zoo knows, by key. Copied from ``keras.src.applications`` (a test
#: checks they still agree with the installed Keras).
KERAS_FILES: dict[str, KerasWeightsFile] = {
    "resnet50_notop": KerasWeightsFile(
        fname="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin=_KERAS_RESNET + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        file_hash="4d473c1dd8becc155b73f8504c6f6626",
    ),
}


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights come from.

    Attributes:
        spec: The string the recipe or caller gave (``"none"``, ``"imagenet"`` or a path).
        kind: ``"none"``, ``"imagenet"`` or ``"file"``.
        path: The file to load (``None`` for random initialisation).
        sha256: The file's sha256 (``None`` for random initialisation).
        source: One human line, e.g. ``"file /data/base.weights.h5 (sha256 3f2a…)"``.
    """

    spec: str
    kind: Literal["none", "imagenet", "file"]
    path: Path | None
    sha256: str | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for manifests and ``--json`` output."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
            "source": self.source,
        }


def normalize(spec: str | None) -> str:
    """``None`` → ``"none"``; strings are stripped. Other types are left to the caller."""
    return NONE if spec is None else spec.strip()


def plain_value(value: Any) -> Any:
    """A weights parameter as given by Python callers, before validation.

    ``None`` → ``"none"``, a ``pathlib.Path`` → its string, strings stripped; anything
    else is returned as is for the parameter's type check to reject.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return normalize(value) if value is None or isinstance(value, str) else value


#: Separator of a pinned digest in a weights string: ``"file.weights.h5#sha256=<hex>"``.
PIN = "#sha256="


def split_pin(value: str) -> tuple[str, str | None]:
    """``"file.h5#sha256=abc…"`` → ``("file.h5", "abc…")``; no pin → ``(value, None)``.

    Example:
        >>> split_pin("base.weights.h5#sha256=" + "0" * 64)[1] == "0" * 64
        True
        >>> split_pin("imagenet")
        ('imagenet', None)
    """
    path, sep, digest = value.partition(PIN)
    return (path, digest.strip().lower()) if sep else (value, None)


def spec_problem(spec: str | None) -> str | None:
    """Check the form of a weights string without touching the file system.

    Args:
        spec: ``"none"``, ``"imagenet"``, a path ending in ``.weights.h5``/``.h5``, or None.

    Returns:
        ``None`` when the form is right, else a message with what was received, what is
        expected and how to fix it.

    Example:
        >>> spec_problem("imagenet") is None
        True
        >>> spec_problem("imagnet")
        "received 'imagnet'; expected 'none' (...), 'imagenet' (...) or ... mean 'imagenet'?"
    """
    value, pin = split_pin(normalize(spec))
    if pin is not None and (len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin)):
        return (
            f"received the pin {pin!r} in {spec!r}; expected 64 hex digits after {PIN!r}, as "
            "printed by `sha256sum FILE`."
        )
    if pin is not None and value in (NONE, IMAGENET):
        return f"received {spec!r}; a {PIN!r} pin applies to a local weights file only."
    if value in (NONE, IMAGENET) or value.lower().endswith(LOCAL_SUFFIXES):
        return None
    expected = (
        f"expected {NONE!r} (random initialisation), {IMAGENET!r} (the Keras ImageNet "
        "file, from the Keras cache or downloaded) or a path to a weights file ending in "
        f"{' or '.join(LOCAL_SUFFIXES)}"
    )
    if value.lower().endswith(".keras"):
        hint = (
            " A .keras file is a whole model: load it with keras.saving.load_model, or save "
            "the backbone's weights with base.save_weights('base.weights.h5') and pass that."
        )
    elif value.lower() in ("random", "null", ""):
        hint = f" Use {NONE!r} for random initialisation."
    else:
        hint = did_you_mean(value, (NONE, IMAGENET))
    return f"received {value!r}; {expected}.{hint}"


def resolve(
    spec: str | None,
    *,
    keras_file: KerasWeightsFile | None = None,
    download: bool = True,
) -> ResolvedWeights:
    """Turn a weights string into a file to load, with its source and hash.

    Args:
        spec: ``"none"``/``None``, ``"imagenet"`` or a local file path.
        keras_file: The Keras-cache file ``"imagenet"`` means for this model.
        download: For ``"imagenet"``, download into the Keras cache when missing (the real
            Keras path); ``False`` only looks in the cache.

    Returns:
        The resolved weights.

    Raises:
        WeightsError: a malformed string, a missing or unreadable file, an ImageNet file
            that is neither cached nor downloadable, or one whose hash is wrong. The
            message names the file and how to supply it.

    Example:
        >>> resolve("~/base.weights.h5").source  # doctest: +SKIP
        'file /home/me/base.weights.h5 (sha256 9c1d…)'
    """
    value = normalize(spec)
    problem = spec_problem(value)
    if problem is not None:
        raise WeightsError(f"weights: {problem}")
    if value == NONE:
        return ResolvedWeights(NONE, "none", None, None, "random initialisation (seeded by seed=)")
    if value == IMAGENET:
        if keras_file is None:
            raise WeightsError(
                "weights='imagenet': this model has no ImageNet weights file; use 'none' or "
                "a path to a weights file."
            )
        return _resolve_imagenet(keras_file, download=download)
    return _resolve_local(value)


def keras_cache_dir(subdir: str = "models") -> Path:
    """The folder ``keras.utils.get_file`` caches into, read from the environment now.

    ``$KERAS_HOME`` if set, else ``~/.keras``; ``/tmp/.keras`` when that is not writable
    (as Keras does).

    Example:
        >>> keras_cache_dir()  # doctest: +SKIP
        PosixPath('/home/me/.keras/models')
        >>> keras_cache_dir("datasets").name
        'datasets'
    """
    if "KERAS_HOME" in os.environ:
        base = Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        home = Path("~").expanduser()
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    with contextlib.suppress(OSError):  # as Keras does at import; unwritable → /tmp below
        base.mkdir(parents=True, exist_ok=True)
    if not os.access(base, os.W_OK):
        tmp = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        base = Path(tmp) / ".keras"
    return base / subdir


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Example:
        >>> file_digest(Path("base.weights.h5"))[:8]  # doctest: +SKIP
        '9c1d0b2e'
    """
    hasher = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def load_into(model: Any, weights: ResolvedWeights, *, what: str) -> None:
    """Load resolved weights into a Keras model (no-op for random initialisation).

    Args:
        model: The Keras model whose structure the file was saved from.
        weights: From :func:`resolve`.
        what: Names the model in errors, e.g. ``"the ResNet50 base (include_top=False)"``.

    Raises:
        WeightsError: the file does not fit ``model``; the message keeps Keras' reason.

    Example:
        >>> load_into(base, resolve("base.weights.h5"), what="the ResNet50 base")  # doctest: +SKIP
    """
    if weights.path is None:
        return
    try:
        model.load_weights(str(weights.path))
    except Exception as exc:
        raise WeightsError(
            f"weights={weights.spec!r}: could not load {weights.path} into {what}: "
            f"{type(exc).__name__}: {_first_line(exc)}. Expected a file saved from that same "
            "architecture: the Keras ImageNet file, or base.save_weights('x.weights.h5')."
        ) from exc


def _resolve_imagenet(keras_file: KerasWeightsFile, *, download: bool) -> ResolvedWeights:
    folder = keras_cache_dir(keras_file.cache_subdir)
    target = folder / keras_file.fname
    algorithm = "sha256" if len(keras_file.file_hash) == 64 else "md5"
    if target.is_file():
        # Checked here, before Keras sees it: on a mismatch keras.utils.get_file deletes the
        # file when its re-download fails, and someone may have copied it there by hand.
        found = file_digest(target, algorithm)
        if found != keras_file.file_hash:
            raise WeightsError(
                f"weights='imagenet': {target} is not the Keras ImageNet file: its {algorithm} "
                f"is {found}, expected {keras_file.file_hash}. The file was left as it is. "
                f"Replace it with the file from {keras_file.origin}, or pass it as a local "
                f"file to load it anyway: weights={str(target)!r}."
            )
    elif not download:
        raise WeightsError(_missing_imagenet(keras_file, target, reason="not downloading"))
    else:
        target = _download(keras_file, folder)
    return ResolvedWeights(
        IMAGENET,
        "imagenet",
        target,
        file_digest(target),
        f"imagenet (Keras file {target})",
    )


def _download(keras_file: KerasWeightsFile, folder: Path) -> Path:
    """Fetch through ``keras.utils.get_file`` into ``folder``'s Keras home."""
    import keras

    try:
        path = keras.utils.get_file(
            keras_file.fname,
            keras_file.origin,
            cache_subdir=keras_file.cache_subdir,
            file_hash=keras_file.file_hash,
            cache_dir=str(folder.parent),
        )
    except Exception as exc:
        target = folder / keras_file.fname
        raise WeightsError(
            _missing_imagenet(keras_file, target, reason=f"downloading failed: {_first_line(exc)}")
        ) from exc
    return Path(path)


def _missing_imagenet(keras_file: KerasWeightsFile, target: Path, *, reason: str) -> str:
    return (
        f"weights='imagenet': the Keras ImageNet weights file {keras_file.fname!r} is not in "
        f"the Keras cache ({target.parent}) and {reason}. To supply it, download "
        f"{keras_file.origin} (md5 {keras_file.file_hash}) where the internet is reachable, "
        f"then either copy it to {target} (Keras' own cache; $KERAS_HOME moves it) or pass "
        f"its path: weights='/path/to/{keras_file.fname}'. Use weights='none' for random "
        "initialisation."
    )


def _resolve_local(spec: str) -> ResolvedWeights:
    value, pin = split_pin(spec)
    path = Path(value).expanduser()
    shown = path if path.is_absolute() else Path.cwd() / path
    if not path.exists():
        raise WeightsError(
            f"weights={value!r}: no such file ({shown}). Expected an existing "
            f"{' or '.join(LOCAL_SUFFIXES)} weights file; check the path (relative paths are "
            "read from the current directory) or use 'none' / 'imagenet'."
        )
    if not path.is_file():
        raise WeightsError(
            f"weights={value!r}: {shown} is a folder, not a file. Pass the weights file "
            f"inside it (ending in {' or '.join(LOCAL_SUFFIXES)})."
        )
    path = path.resolve()
    try:
        digest = file_digest(path)
    except OSError as exc:
        raise WeightsError(
            f"weights={value!r}: cannot read {path}: {exc}. Fix the file's permissions."
        ) from exc
    if pin is not None and digest != pin:
        raise WeightsError(
            f"weights={spec!r}: {path} has sha256 {digest}, not the pinned {pin}: it is not "
            "the file the recipe names (changed or replaced). Nothing was loaded. Restore the "
            "original file, or update the pin if the new file is the one you want."
        )
    pinned = ", pinned" if pin is not None else ""
    return ResolvedWeights(
        spec, "file", path, digest, f"file {path} (sha256 {digest[:12]}…{pinned})"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
