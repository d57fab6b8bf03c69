"""Backbones from TF Hub or from a local SavedModel folder, wrapped as a Keras 3 layer.

A recipe names such a backbone with one plain string:

- ``"tfhub:<handle>"``: a TF Hub model. ``<handle>`` is a URL (``https://tfhub.dev/...``,
  ``https://www.kaggle.com/models/...``, a ``.tar.gz`` URL or ``gs://....tar.gz``) or a short
  tfhub.dev handle: ``"tfhub:google/imagenet/mobilenet_v2_100_224/feature_vector/5"`` means
  ``https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5``. It is resolved
  with ``tensorflow_hub.resolve``, which looks in the TF Hub cache first: the folder
  ``$TFHUB_CACHE_DIR`` (else the ``--tfhub_cache_dir`` flag, else
  ``<system temp>/tfhub_modules``), subfolder ``sha1(<URL>)`` in hex. A subfolder that exists
  and is not empty is used as it is, without the network; otherwise the model is downloaded
  there (next to it tensorflow-hub keeps ``<sha1>.lock`` while downloading, a temporary
  ``<sha1>.<uuid>.tmp`` folder, and an informative ``<sha1>.descriptor.txt``).
- a path: a SavedModel folder (holding ``saved_model.pb``), e.g. one written by
  ``model.export(folder)`` or downloaded from Kaggle Models and unpacked. ``~`` is expanded;
  a relative path is read from the current directory.

:func:`wrap` turns the resolved folder into a ``keras.layers.TFSMLayer`` (``hub.KerasLayer``
is Keras 2 only). Nothing here imports TensorFlow at module level.

Example:
    >>> from zoo import hub
    >>> hub.handle_url("google/imagenet/mobilenet_v2_100_224/feature_vector/5")
    'https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5'
    >>> hub.cache_subfolder(hub.handle_url("google/bit/m-r50x1/1"))
    '4ff8fefe176c863be939e3880dfa769989df4e32'
    >>> hub.spec_problem("https://tfhub.dev/google/bit/m-r50x1/1")
    "received 'https://tfhub.dev/google/bit/m-r50x1/1', a URL without the 'tfhub:' ..."
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zoo.errors import ZooError, did_you_mean

#: Prefix of a TF Hub handle in a recipe's ``backbone`` string.
PREFIX = "tfhub:"
#: Where a short handle (no URL scheme) lives.
TFHUB_DEV = "https://tfhub.dev/"
#: The file that makes a folder a SavedModel.
SAVED_MODEL_PB = "saved_model.pb"
_URL_SCHEMES = ("http://", "https://", "gs://")


class BackboneError(ZooError):
    """A backbone that cannot be found, fetched, loaded or called."""


@dataclass(frozen=True)
class ResolvedBackbone:
    """Where a backbone comes from: what :func:`resolve` returns.

    Carried by built models as ``model.zoo_weights`` (the export manifest records it).

    Attributes:
        spec: The string the recipe or caller gave.
        kind: ``"tfhub"`` (resolved through tensorflow-hub) or ``"saved_model"`` (a folder).
        path: The SavedModel folder.
        handle: The TF Hub URL (``None`` for a folder).
        sha256: Digest of the folder's files (:func:`folder_digest`).
        source: One human line, e.g. ``"tfhub https://tfhub.dev/... (folder /tmp/…)"``.
    """

    spec: str
    kind: Literal["tfhub", "saved_model"]
    path: Path
    handle: str | None
    sha256: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for manifests and ``--json`` output."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "path": str(self.path),
            "handle": self.handle,
            "sha256": self.sha256,
            "source": self.source,
        }


def handle_url(handle: str) -> str:
    """The URL tensorflow-hub resolves for a handle: a URL as is, else under tfhub.dev.

    Example:
        >>> handle_url("https://www.kaggle.com/models/google/bit/TensorFlow2/m-r50x1/1")
        'https://www.kaggle.com/models/google/bit/TensorFlow2/m-r50x1/1'
        >>> handle_url("google/bit/m-r50x1/1")
        'https://tfhub.dev/google/bit/m-r50x1/1'
    """
    handle = handle.strip()
    return handle if handle.startswith(_URL_SCHEMES) else TFHUB_DEV + handle.lstrip("/")


def cache_subfolder(url: str) -> str:
    """Name of a handle's folder in the TF Hub cache: the sha1 of its URL, in hex.

    Example:
        >>> cache_subfolder("https://tfhub.dev/google/bit/m-r50x1/1")
        '4ff8fefe176c863be939e3880dfa769989df4e32'
    """
    return hashlib.sha1(url.encode("utf8")).hexdigest()


def spec_problem(spec: str) -> str | None:
    """Check the form of a backbone string without touching the file system or TensorFlow.

    Args:
        spec: ``"tfhub:<handle>"`` or a SavedModel folder path.

    Returns:
        ``None`` when the form is right, else a message with what was received, what is
        expected and how to fix it.

    Example:
        >>> spec_problem("tfhub:google/bit/m-r50x1/1") is None
        True
        >>> spec_problem("tfhub:")
        "received 'tfhub:', an empty handle; expected 'tfhub:<handle or URL>' ..."
    """
    value = spec.strip()
    expected = (
        f"expected '{PREFIX}<handle or URL>' (a TF Hub model, e.g. "
        f"'{PREFIX}google/imagenet/mobilenet_v2_100_224/feature_vector/5') or the path of a "
        f"SavedModel folder (holding {SAVED_MODEL_PB})"
    )
    if not value:
        return f"received an empty string; {expected}."
    if value.startswith(PREFIX):
        handle = value[len(PREFIX) :].strip()
        if not handle:
            return f"received {value!r}, an empty handle; {expected}."
        if handle.startswith(("/", "~", ".")):
            return (
                f"received {value!r}: {handle!r} is a path, not a TF Hub handle; {expected}. "
                f"Drop the '{PREFIX}' prefix to use a local folder: {handle!r}."
            )
        return None
    if value.startswith(_URL_SCHEMES):
        return (
            f"received {value!r}, a URL without the {PREFIX!r} prefix; {expected}. "
            f"Write {PREFIX + value!r}."
        )
    prefix, sep, _ = value.partition(":")
    if sep and "/" not in prefix and len(prefix) > 1:  # not a path, not a drive letter
        hint = did_you_mean(prefix + sep, [PREFIX])
        return f"received {value!r}: unknown prefix {prefix + sep!r}; {expected}.{hint}"
    return None


def resolve(spec: str, *, download: bool = True) -> ResolvedBackbone:
    """Turn a backbone string into a SavedModel folder, with its source and digest.

    Args:
        spec: ``"tfhub:<handle>"`` or a SavedModel folder path.
        download: For a TF Hub handle missing from the cache, let tensorflow-hub download
            it; ``False`` only looks in the cache (never touches the network).

    Returns:
        The resolved backbone.

    Raises:
        BackboneError: a malformed string; a handle neither cached nor downloadable (the
            message names the handle, the cache folder and its hashed subfolder, and the
            fixes); a path that is missing or not a SavedModel folder.

    Example:
        >>> resolve("tfhub:google/bit/m-r50x1/1").path  # doctest: +SKIP
        PosixPath('/tmp/tfhub_modules/4ff8fefe176c863be939e3880dfa769989df4e32')
    """
    value = spec.strip()
    problem = spec_problem(value)
    if problem is not None:
        raise BackboneError(f"backbone: {problem}")
    if value.startswith(PREFIX):
        return _resolve_handle(value, download=download)
    return _resolve_folder(value)


def cache_dir() -> Path:
    """The TF Hub cache folder, as tensorflow-hub reads it now (imports tensorflow-hub).

    ``$TFHUB_CACHE_DIR``, else the ``--tfhub_cache_dir`` flag, else
    ``<system temp>/tfhub_modules``.

    Example:
        >>> cache_dir()  # doctest: +SKIP
        PosixPath('/tmp/tfhub_modules')
    """
    return Path(_tfhub().resolver.tfhub_cache_dir(use_temp=True))


def folder_digest(folder: Path) -> str:
    """sha256 over a folder's files: each relative path and content, in sorted order.

    Example:
        >>> folder_digest(Path("my_saved_model"))[:8]  # doctest: +SKIP
        '5be0c2a1'
    """
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hasher.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                hasher.update(chunk)
    return hasher.hexdigest()


def _tfhub() -> Any:
    """``import tensorflow_hub``, without its pkg_resources deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import tensorflow_hub

    return tensorflow_hub


def _resolve_handle(value: str, *, download: bool) -> ResolvedBackbone:
    url = handle_url(value[len(PREFIX) :])
    hub = _tfhub()
    folder = cache_dir() / cache_subfolder(url)
    if not download and not _non_empty_dir(folder):
        raise BackboneError(_missing_handle(value, url, folder, reason="not downloading"))
    try:
        found = hub.resolve(url)
    except Exception as exc:  # URLError, tf.errors.*, OSError: all mean "not available"
        raise BackboneError(
            _missing_handle(value, url, folder, reason=f"downloading failed: {_first_line(exc)}")
        ) from exc
    path = Path(found)
    if not (path / SAVED_MODEL_PB).is_file():
        raise BackboneError(
            f"backbone={value!r}: tensorflow-hub resolved {url} to {path}, which holds no "
            f"{SAVED_MODEL_PB} (found: {_listing(path)}). Expected a TF2 SavedModel; a TF1 Hub "
            "module or a partial download does not load. Delete that folder to download it "
            "again, or point backbone at a SavedModel folder."
        )
    digest = folder_digest(path)
    source = f"tfhub {url} (folder {path}, sha256 {digest[:12]}…)"
    return ResolvedBackbone(value, "tfhub", path, url, digest, source)


def _missing_handle(value: str, url: str, folder: Path, *, reason: str) -> str:
    env = os.environ.get("TFHUB_CACHE_DIR")
    where = (
        f"$TFHUB_CACHE_DIR={env}" if env else "the default cache; set $TFHUB_CACHE_DIR to move it"
    )
    return (
        f"backbone={value!r}: the TF Hub model {url} is not in the TF Hub cache "
        f"{folder.parent} ({where}) under its subfolder {folder.name} (the sha1 of the URL) "
        f"and {reason}. To supply it: on a machine with internet run "
        f'`TFHUB_CACHE_DIR=/some/cache python -c "import tensorflow_hub as hub; '
        f"print(hub.resolve('{url}'))\"` and copy the folder it prints to {folder} (or set "
        f"$TFHUB_CACHE_DIR to a cache that holds it); or download and unpack the SavedModel "
        f"yourself and point backbone at its folder: backbone = '/path/to/saved_model'."
    )


def _resolve_folder(value: str) -> ResolvedBackbone:
    path = Path(value).expanduser()
    shown = path if path.is_absolute() else Path.cwd() / path
    hint = (
        "Expected a SavedModel folder holding saved_model.pb (write one with "
        "model.export(folder), or unpack a TF Hub / Kaggle download)"
    )
    if not path.exists():
        raise BackboneError(
            f"backbone={value!r}: no such folder ({shown}). {hint}; check the path (relative "
            f"paths are read from the current directory), or name a TF Hub model as "
            f"'{PREFIX}<handle>'."
        )
    if not path.is_dir():
        extra = ""
        if path.suffix == ".keras":
            extra = " A .keras file is a whole Keras model: export it with model.export(folder)."
        raise BackboneError(f"backbone={value!r}: {shown} is a file, not a folder. {hint}.{extra}")
    if not (path / SAVED_MODEL_PB).is_file():
        raise BackboneError(
            f"backbone={value!r}: {shown} holds no {SAVED_MODEL_PB} (found: {_listing(path)}). "
            f"{hint}."
        )
    path = path.resolve()
    digest = folder_digest(path)
    return ResolvedBackbone(
        value, "saved_model", path, None, digest, f"saved_model {path} (sha256 {digest[:12]}…)"
    )


def wrap(
    resolved: ResolvedBackbone,
    *,
    endpoint: str = "serving_default",
    trainable: bool = False,
    name: str = "backbone",
) -> Any:
    """Load the resolved SavedModel as a ``keras.layers.TFSMLayer`` calling ``endpoint``.

    Args:
        resolved: From :func:`resolve`.
        endpoint: A serving signature (``serving_default``…) or a function attribute of the
            saved object (``serve`` of ``model.export``, ``__call__`` of TF Hub models).
        trainable: Let training update the variables the endpoint uses.
        name: Layer name.

    Returns:
        The layer; it stores the folder's path, so a ``.keras`` file holding it reloads
        only where that folder exists, and only with ``safe_mode=False``.

    Raises:
        BackboneError: no such endpoint (the message lists the signatures and functions),
            or ``trainable=True`` with an endpoint that uses no trainable variables.

    Example:
        >>> layer = wrap(resolve("tfhub:google/bit/m-r50x1/1"))  # doctest: +SKIP
    """
    import keras

    try:
        layer = keras.layers.TFSMLayer(
            str(resolved.path), call_endpoint=endpoint, trainable=trainable, name=name
        )
    except ValueError as exc:
        if endpoint not in str(exc):
            raise
        signatures, functions = endpoints(resolved.path)
        raise BackboneError(
            f"backbone={resolved.spec!r}: the SavedModel {resolved.path} has no endpoint "
            f"{endpoint!r}. Its signatures: {signatures or 'none'}; its functions: "
            f"{functions or 'none'}. Set params.endpoint to one of them."
            + did_you_mean(endpoint, [*signatures, *functions])
        ) from None
    if not callable(layer.call_endpoint_fn):
        raise BackboneError(
            f"backbone={resolved.spec!r}: endpoint {endpoint!r} of {resolved.path} is a "
            f"{type(layer.call_endpoint_fn).__name__}, not a function; expected a signature "
            f"or a saved function: {endpoints(resolved.path)}."
        )
    fix_variable_names(layer)
    if trainable and not layer.trainable_weights:
        raise BackboneError(
            f"backbone={resolved.spec!r}: trainable=True, but endpoint {endpoint!r} of "
            f"{resolved.path} uses no trainable variables (the SavedModel was saved frozen, "
            "or its variables are marked non-trainable); it cannot be fine-tuned. Use "
            "trainable=False and train the head only."
        )
    return layer


def fix_variable_names(layer: Any) -> Any:
    """Drop the ``:0`` that ``TFSMLayer`` leaves in its variable names, so optimizers work.

    ``TFSMLayer`` names each weight after the TF variable (``conv/kernel:0`` becomes
    ``conv_kernel:0``); an optimizer that Keras 3.15 builds inside ``fit`` names its slots
    after them (``conv_kernel:0_momentum``) in a TF name scope, which rejects ``:``, so
    fine-tuning fails on the first step. :func:`wrap` applies this; apply it again to the
    backbone of a model reloaded from a ``.keras`` file before compiling it anew.

    Returns:
        The layer, renamed in place.

    Example:
        >>> model = keras.saving.load_model("tuned.keras", safe_mode=False)  # doctest: +SKIP
        >>> fix_variable_names(model.get_layer("backbone"))  # doctest: +SKIP
        >>> model.compile(optimizer="adam", loss=model.loss)  # doctest: +SKIP
    """
    for variable in layer.weights:
        # Private fields: keras.Variable has no public rename, and the slot name is built
        # from ``path``; both are plain strings set once in ``Variable.__init__``.
        for field in ("_name", "_path"):
            value = getattr(variable, field, None)
            if isinstance(value, str):
                setattr(variable, field, value.replace(":", "_"))
    return layer


def endpoints(path: Path) -> tuple[list[str], list[str]]:
    """The signatures and the saved functions of a SavedModel (loads it).

    Example:
        >>> endpoints(Path("exported"))  # a folder from model.export()  # doctest: +SKIP
        (['serve', 'serving_default'], ['serve'])
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    function_type = tf.types.experimental.PolymorphicFunction
    functions = [
        n
        for n in sorted(dir(loaded))
        if (n == "__call__" or not n.startswith("_"))
        and isinstance(getattr(loaded, n, None), function_type)
    ]
    return sorted(loaded.signatures), functions


def input_spec(layer: Any) -> Any:
    """The single input ``tf.TensorSpec`` of a wrapped endpoint, or ``None`` when unknown.

    Known for signatures (one keyword input) and functions saved with an input signature.

    Raises:
        BackboneError: the endpoint takes several inputs.

    Example:
        >>> input_spec(wrap(resolve("exported"))).shape  # doctest: +SKIP
        TensorShape([None, 32, 32, 3])
    """
    fn = layer.call_endpoint_fn
    signature = getattr(fn, "structured_input_signature", None)
    if signature is not None:
        args, kwargs = signature
        specs = [*args, *kwargs.values()]
    else:
        specs = list(getattr(fn, "input_signature", None) or [])
    if len(specs) > 1:
        names = [getattr(s, "name", None) for s in specs]
        raise BackboneError(
            f"backbone endpoint {layer.call_endpoint!r} of {layer.filepath} takes {len(specs)} "
            f"inputs {names}; expected one (hub_transfer feeds a single input). Choose "
            "another endpoint."
        )
    return specs[0] if specs and hasattr(specs[0], "shape") else None


def _non_empty_dir(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _listing(folder: Path, limit: int = 6) -> str:
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    shown = ", ".join(names[:limit]) + (", …" if len(names) > limit else "")
    return shown or "nothing"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
