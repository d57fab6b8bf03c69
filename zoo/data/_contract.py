"""What a model takes and gives, as seen by the data loader (no TensorFlow at import).

:func:`contract` reads it from a registered model name (the recipe, with overrides; no
model is built) or from a Keras model (its named inputs and outputs, its compiled loss and,
if it came from :func:`zoo.get`, its recipe for preprocessors, value ranges and targets).
Each input gets a *kind* saying how data is fed to it:

``image``  rank-3 ``[H, W, C]``: pixels resized, channels matched, scaled to the range;
``bert``   the inputs a family preprocessor fills from strings (``token_ids`` …);
``words``  rank-1 integer ids: a word vocabulary built from the training split.

Each classification output gets its label *encoding*: ``one_hot`` (softmax, categorical
cross-entropy), ``binary`` (one sigmoid unit: float ``[n, 1]``) or ``sparse`` (a
``sparse_*`` loss: int ``[n]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ZooError

#: Inputs a BERT-style family preprocessor fills from text.
BERT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16")


@dataclass(frozen=True)
class In:
    """One model input: name, shape without the batch axis, dtype, value range, kind."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    range: tuple[float, float] | None
    kind: str  # image | bert | words | other


@dataclass(frozen=True)
class Out:
    """One model output and how its targets are made."""

    name: str
    shape: tuple[int, ...]
    task: str  # classification | reconstruction | other
    encoding: str | None = None  # one_hot | binary | sparse (classification only)

    @property
    def num_classes(self) -> int:
        return int(self.shape[-1])


@dataclass(frozen=True)
class Contract:
    """A model's data contract."""

    label: str  # "model 'cnn_lstm_fusion_tiny'": for messages
    recipe: str | None  # registered name, if known
    overrides: dict[str, Any]
    inputs: dict[str, In]
    outputs: dict[str, Out]
    vocab_cap: int | None = None  # ids of word inputs lie below this
    preprocessor: bool = False  # the recipe's family turns strings into the bert inputs
    targets_hook: Any = field(default=None, compare=False)  # inputs dict -> targets dict

    @property
    def modalities(self) -> tuple[str, ...]:
        kinds = {i.kind for i in self.inputs.values()}
        found = ["image"] if "image" in kinds else []
        return (*found, "text") if kinds & {"bert", "words"} else tuple(found)

    @property
    def classification(self) -> list[Out]:
        return [o for o in self.outputs.values() if o.task == "classification"]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what shapes the data (part of the fingerprint)."""
        return {
            "recipe": self.recipe,
            "overrides": {k: _jsonable(v) for k, v in sorted(self.overrides.items())},
            "inputs": {
                n: [list(i.shape), i.dtype, list(i.range) if i.range else None, i.kind]
                for n, i in sorted(self.inputs.items())
            },
            "outputs": {
                n: [list(o.shape), o.task, o.encoding] for n, o in sorted(self.outputs.items())
            },
            "vocab_cap": self.vocab_cap,
        }


def contract(for_model: Any, overrides: dict[str, Any] | None) -> Contract:
    """The data contract of a registered model name or a Keras model.

    Raises:
        ZooError: an unknown name, overrides given with a built model, or an input that no
            data source can fill.
    """
    if isinstance(for_model, str):
        return _from_name(for_model, dict(overrides or {}))
    if not hasattr(for_model, "inputs") or not hasattr(for_model, "outputs"):
        raise ZooError(
            f"for_model={for_model!r} ({type(for_model).__name__}); expected a registered "
            "model name (see zoo.list()) or a Keras model, e.g. zoo.get('cnn_lstm_fusion_tiny')."
        )
    if overrides:
        raise ZooError(
            f"model_overrides={overrides!r} apply to a model name, not to a built Keras model; "
            "pass the name instead, or build the model with them: zoo.get(name, **overrides)."
        )
    return _from_model(for_model)


def _from_name(name: str, overrides: dict[str, Any]) -> Contract:
    from zoo._registry import REGISTRY

    entry = REGISTRY.get(name)
    params, inputs, outputs = entry.resolve_io(overrides)
    shapes: dict[str, tuple[tuple[int, ...], str, Any]] = {
        n: (tuple(s.shape), str(s.dtype), s.range) for n, s in inputs.items()
    }
    tasks: dict[str, tuple[tuple[int, ...], str | None]] = {
        n: (tuple(o.shape), o.task) for n, o in outputs.items()
    }
    return _assemble(f"model {name!r}", name, overrides, entry, params, shapes, tasks, None)


def _from_model(model: Any) -> Contract:
    from zoo._build import origin
    from zoo._registry import REGISTRY

    found = origin(model)
    entry = params = None
    ranges: dict[str, Any] = {}
    tasks_known: dict[str, Any] = {}
    if found is not None:
        entry = REGISTRY.get(found.name)
        params, inputs, outputs = entry.resolve_io(found.overrides)
        ranges = {n: s.range for n, s in inputs.items()}
        tasks_known = {n: o.task for n, o in outputs.items()}
    shapes = {
        t.name: (
            tuple(int(d) for d in t.shape[1:] if d is not None),
            str(t.dtype),
            ranges.get(t.name),
        )
        for t in model.inputs
    }
    for t in model.inputs:
        if any(d is None for d in t.shape[1:]):
            raise ZooError(
                f"model {model.name!r}: input {t.name!r} has shape {tuple(t.shape)}; expected "
                "fixed sizes after the batch axis, so data can be resized and padded to them."
            )
    tasks = {
        n: (tuple(int(d) for d in t.shape[1:]), tasks_known.get(n)) for n, t in _outputs(model)
    }
    name = found.name if found is not None else None
    overrides = dict(found.overrides) if found is not None else {}
    label = f"model {model.name!r}"
    return _assemble(label, name, overrides, entry, params, shapes, tasks, model)


def _outputs(model: Any) -> list[tuple[str, Any]]:
    if isinstance(model.output, dict):
        return list(model.output.items())
    names = list(getattr(model, "output_names", None) or [t.name for t in model.outputs])
    return list(zip(names, model.outputs, strict=True))


def _assemble(
    label: str,
    recipe: str | None,
    overrides: dict[str, Any],
    entry: Any,
    params: Any,
    shapes: dict[str, tuple[tuple[int, ...], str, Any]],
    tasks: dict[str, tuple[tuple[int, ...], str | None]],
    model: Any,
) -> Contract:
    family = entry.family if entry is not None else None
    preprocessor = bool(family is not None and family.preprocessor is not None)
    bert = set(BERT_INPUTS) <= set(shapes)
    inputs = {
        n: In(n, shape, dtype, tuple(rng) if rng else None, _kind(n, shape, dtype, bert))
        for n, (shape, dtype, rng) in shapes.items()
    }
    if bert and not preprocessor:
        raise ZooError(
            f"{label} takes {list(BERT_INPUTS)} but has no recipe whose family tokenizes "
            "text (model.zoo_origin); expected a model built by zoo.get('bert_classifier...') "
            "or for_model='<registered name>'."
        )
    losses = _losses(model, list(tasks)) if model is not None else {}
    outputs = {
        n: _output(label, n, shape, task, losses.get(n)) for n, (shape, task) in tasks.items()
    }
    hook = None
    if family is not None and family.targets is not None:
        targets = family.targets

        def hook(batch: dict[str, Any]) -> dict[str, Any]:
            return dict(targets(params, batch))

    return Contract(
        label,
        recipe,
        overrides,
        inputs,
        outputs,
        _vocab_cap(label, inputs, params, model),
        preprocessor,
        hook,
    )


def _kind(name: str, shape: tuple[int, ...], dtype: str, bert: bool) -> str:
    if bert and name in BERT_INPUTS:
        return "bert"
    if len(shape) == 3:
        return "image"
    if len(shape) == 1 and dtype in _INT_DTYPES:
        return "words"
    return "other"


def _output(
    label: str, name: str, shape: tuple[int, ...], task: str | None, loss: str | None
) -> Out:
    classify = task == "classification" or (task is None and name == "probabilities")
    if not classify:
        return Out(name, shape, task or "other")
    if len(shape) != 1:
        raise ZooError(
            f"{label}: classification output {name!r} has shape {list(shape)}; expected "
            "[num_classes]."
        )
    if shape[0] == 1:
        encoding = "binary"
    elif loss is not None and "sparse" in loss:
        encoding = "sparse"
    else:
        encoding = "one_hot"
    return Out(name, shape, "classification", encoding)


def _losses(model: Any, names: list[str]) -> dict[str, str]:
    """Output name → lower-case loss name from ``model.loss`` (empty if not compiled)."""
    loss = getattr(model, "loss", None)
    if loss is None:
        return {}
    if isinstance(loss, dict):
        return {n: _loss_name(v) for n, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return {n: _loss_name(v) for n, v in zip(names, loss, strict=False)}
    return {n: _loss_name(loss) for n in names}


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        return loss.lower()
    for attr in ("name", "__name__"):
        value = getattr(loss, attr, None)
        if isinstance(value, str):
            return value.lower()
    fn = getattr(loss, "fn", None)  # keras LossFunctionWrapper
    return str(getattr(fn, "__name__", type(loss).__name__)).lower()


def _vocab_cap(label: str, inputs: dict[str, In], params: Any, model: Any) -> int | None:
    """The bound word ids must stay below.

    The word inputs' range high, the recipe's ``vocab_size``, or the input dim of the
    Embedding a (non-zoo) Keras model feeds the input to; the smallest of those found.
    """
    words = [i for i in inputs.values() if i.kind == "words"]
    if not words:
        return None
    caps = [int(i.range[1]) for i in words if i.range is not None]
    vocab = getattr(params, "vocab_size", None)
    if isinstance(vocab, int):
        caps.append(vocab)
    if not caps and model is not None:
        caps += _embedding_dims(model, {i.name for i in words})
    if not caps:
        raise ZooError(
            f"{label}: cannot tell how many word ids input {words[0].name!r} takes (no "
            "recipe range or vocab_size, no Embedding layer reading it); expected a model "
            "built by zoo.get, or one whose integer input feeds a keras Embedding directly."
        )
    return min(caps)


def _embedding_dims(model: Any, names: set[str]) -> list[int]:
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            try:
                source = layer.input
            except (AttributeError, ValueError):
                continue
            if getattr(source, "name", None) in names:
                found.append(int(layer.input_dim))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
