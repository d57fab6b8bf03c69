"""A small random BERT folder in Hugging Face layout, for the backbone-loading tests.

Not collected by pytest (no ``test_`` prefix); imported as ``from _hf_bert import ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def hugging_face_bert(
    folder: Path,
    *,
    vocab_lines: list[str],
    hidden: int,
    layers: int,
    heads: int,
    inter: int,
    positions: int,
    scale: float = 1.0,
    unit_norms: bool = False,
    config: dict[str, Any] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Write ``config.json``, ``model.safetensors``, ``vocab.txt`` and a tokenizer config.

    Args:
        folder: Created; must not exist.
        vocab_lines: The vocabulary, one token per line (its length is ``vocab_size``).
        hidden: ``hidden_size``; ``layers``, ``heads``, ``inter``: the other dimensions.
        positions: ``max_position_embeddings``.
        scale: Standard deviation of the normal draws (seed 0).
        unit_norms: Add 1 to every LayerNorm weight (centred on 1, as trained ones are).
        config: Extra ``config.json`` keys, e.g. ``{"hidden_act": "gelu"}``.

    Returns:
        ``(tensors, config)`` as written.
    """
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    shapes = {
        "embeddings.word_embeddings.weight": (len(vocab_lines), hidden),
        "embeddings.position_embeddings.weight": (positions, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
        "pooler.dense.weight": (hidden, hidden),
        "pooler.dense.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value"):
            shapes[p + part + ".weight"] = (hidden, hidden)
            shapes[p + part + ".bias"] = (hidden,)
        shapes[p + "attention.output.dense.weight"] = (hidden, hidden)
        shapes[p + "attention.output.dense.bias"] = (hidden,)
        shapes[p + "intermediate.dense.weight"] = (inter, hidden)
        shapes[p + "intermediate.dense.bias"] = (inter,)
        shapes[p + "output.dense.weight"] = (hidden, inter)
        shapes[p + "output.dense.bias"] = (hidden,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + norm + ".weight"] = (hidden,)
            shapes[p + norm + ".bias"] = (hidden,)
    tensors = {k: (scale * rng.normal(size=s)).astype(np.float32) for k, s in shapes.items()}
    if unit_norms:
        for k in tensors:
            if k.endswith("LayerNorm.weight"):
                tensors[k] += 1.0
    written = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": len(vocab_lines),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "max_position_embeddings": positions,
        **(config or {}),
    }
    folder.mkdir()
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(written))
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (folder / "vocab.txt").write_text("\n".join(vocab_lines) + "\n", encoding="utf-8")
    return tensors, written
