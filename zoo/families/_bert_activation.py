"""The feed-forward activation of a BERT backbone, as its checkpoint names it.

keras-hub's ``BertBackbone`` hard-codes the tanh approximation of GELU in every
``TransformerEncoder``. BERT and MiniLM checkpoints were trained with the exact (erf) GELU
(Hugging Face ``config.json``: ``"hidden_act": "gelu"``); with the tanh form, MiniLM's
mean-pooled embeddings are off by up to ~1.4e-3.

:func:`backbone_class` returns ``ZooBertBackbone``, a subclass of keras-hub's
``BertBackbone`` that takes the activation as a constructor argument and keeps it in its
config, so ``.keras`` files and ``save_to_preset`` folders keep the activation too. Its
Keras name is ``"zoo>ZooBertBackbone"``; Keras loads a file that holds it only in a process
where it is registered: ``zoo.get`` and zoo's ``keras`` artifact loader register it,
another process calls :func:`zoo.families.register_keras_objects` first.

Nothing here imports Keras at module level.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

#: Exact GELU, ``0.5·x·(1 + erf(x/√2))``: what BERT and MiniLM were trained with.
EXACT_GELU = "gelu"
#: The tanh approximation keras-hub's ``BertBackbone`` hard-codes.
TANH_GELU = "gelu_approximate"
#: Feed-forward activations ``ZooBertBackbone`` accepts (Keras names, plus ``TANH_GELU``).
ACTIVATIONS = (EXACT_GELU, TANH_GELU, "relu", "silu")
#: 1/√2, the scale inside the exact GELU's erf.
SQRT_HALF = 0.7071067811865476
#: Hugging Face ``hidden_act`` → activation name (see transformers' ``ACT2CLS``).
HF_ACTIVATIONS: dict[str, str] = {
    "gelu": EXACT_GELU,
    "gelu_python": EXACT_GELU,
    "gelu_new": TANH_GELU,
    "gelu_pytorch_tanh": TANH_GELU,
    "gelu_fast": TANH_GELU,
    "gelu_accurate": TANH_GELU,
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
#: ``hidden_act`` of a Hugging Face ``BertConfig`` whose ``config.json`` leaves it out.
HF_DEFAULT = "gelu"


def hf_activation(folder: Path) -> str | None:
    """The activation a Hugging Face BERT folder's ``config.json`` names.

    Args:
        folder: A model folder.

    Returns:
        One of :data:`ACTIVATIONS`; ``None`` if ``folder`` holds no Hugging Face config
        (no readable ``config.json`` with a ``model_type``, e.g. a keras-hub preset, which
        declares its own backbone class).

    Raises:
        ZooError: ``hidden_act`` is not a name in :data:`HF_ACTIVATIONS`; the message
            names the value, the file and the accepted names.

    Example:
        >>> from zoo.families._bert_sources import minilm_folder
        >>> hf_activation(minilm_folder())
        'gelu'
    """
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "model_type" not in config:
        return None
    act = config.get("hidden_act", HF_DEFAULT)
    if not isinstance(act, str) or act not in HF_ACTIVATIONS:
        raise ZooError(
            f"{path}: hidden_act {act!r} is not an activation zoo can build; expected one "
            f"of {', '.join(map(repr, HF_ACTIVATIONS))} ('gelu' is the exact erf GELU, "
            "'gelu_new'/'gelu_pytorch_tanh' the tanh approximation). Fix hidden_act in "
            "that config.json if it is wrong."
        )
    return HF_ACTIVATIONS[act]


def _set_activation(backbone: Any, activation: str) -> None:
    """Point every feed-forward layer of a built keras-hub ``BertBackbone`` at ``activation``.

    The layers read their activation when called, so the built graph stays as it is.
    """
    _check(activation)
    if activation == TANH_GELU:
        return  # what keras-hub built
    import keras

    declared = keras.activations.get(activation)
    computed = gelu_erf if activation == EXACT_GELU else declared
    for layer in backbone.transformer_layers:
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is None:  # keras-hub changed TransformerEncoder's internals
            raise ZooError(
                f"BERT backbone: {type(layer).__name__} {layer.name!r} has no "
                "_feedforward_intermediate_dense, so the activation cannot be set; expected "
                "keras-hub 0.32 (see setup.cfg)."
            )
        layer.activation = declared  # what its get_config reports
        dense.activation = computed  # what it computes


def gelu_erf(x: Any) -> Any:
    """The exact GELU written as ``0.5 * x * (1 + erf(x * (1/√2)))``, for exports.

    Same values as ``keras.activations.gelu(x)`` (within 3e-7), but that one becomes
    TensorFlow's ``Erfc``, which tf2onnx 1.17 cannot convert. Written this way, tf2onnx
    emits ``Erf`` and the TFLite converter fuses it into its builtin ``GELU``
    (approximate=False); other arrangements, e.g. ``x * (0.5 * (1 + erf(...)))``, are not
    fused and fail under ``TFLITE_BUILTINS`` (``tf.Erf`` needs TF Select).

    Example:
        >>> float(gelu_erf(1.0))  # doctest: +SKIP
        0.8413447...
    """
    from keras import ops

    return 0.5 * x * (1.0 + ops.erf(x * SQRT_HALF))


def _check(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ZooError(
            f"BERT backbone: activation {activation!r} is not supported; expected one of "
            f"{', '.join(map(repr, ACTIVATIONS))}."
        )


@functools.cache
def backbone_class() -> Any:
    """``ZooBertBackbone``: keras-hub's ``BertBackbone`` with a feed-forward ``activation``.

    Defined and registered (``"zoo>ZooBertBackbone"``) on the first call; imports keras-hub.
    ``activation`` is one of :data:`ACTIVATIONS` (default ``"gelu"``, exact) and is part of
    ``get_config()``; everything else (arguments, layers, weights, presets) is
    ``BertBackbone``'s. A ``ZooBertTokenizer`` is registered alongside: keras-hub loads a
    preset folder's tokenizer only through a tokenizer class whose ``backbone_cls`` is the
    folder's backbone class (the folder's own ``BertTokenizer`` is what it then builds).

    Example:
        >>> cls = backbone_class()  # doctest: +SKIP
        >>> cls(vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=8,
        ...     intermediate_dim=16, activation="gelu").get_config()["activation"]  # doctest: +SKIP
        'gelu'
    """
    import keras
    import keras_hub

    @keras.saving.register_keras_serializable(package="zoo")
    class ZooBertBackbone(keras_hub.models.BertBackbone):
        """keras-hub's ``BertBackbone`` whose feed-forward activation is an argument."""

        def __init__(self, *args: Any, activation: str = EXACT_GELU, **kwargs: Any) -> None:
            _check(activation)  # before the (slow) build
            super().__init__(*args, **kwargs)
            _set_activation(self, activation)
            self.activation = activation

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "activation": self.activation}

    @keras.saving.register_keras_serializable(package="zoo")
    class ZooBertTokenizer(keras_hub.models.BertTokenizer):
        """keras-hub's ``BertTokenizer``, paired with ``ZooBertBackbone`` for presets."""

        backbone_cls = ZooBertBackbone

    return ZooBertBackbone
