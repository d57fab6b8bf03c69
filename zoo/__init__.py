"""zoo: a Keras/TensorFlow model zoo built from plain-data recipes.

Importing ``zoo`` and listing or describing models never imports TensorFlow.

Example:
    >>> import zoo
    >>> zoo.list("cnn_*")
    ['cnn_lstm_fusion', 'cnn_lstm_fusion_deep', 'cnn_lstm_fusion_gap', 'cnn_lstm_fusion_tiny']
    >>> model = zoo.get("cnn_lstm_fusion_tiny", num_classes=5, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo._registry import REGISTRY, describe_entry
from zoo.errors import (
    ContractError,
    DuplicateModelError,
    OverrideError,
    RecipeError,
    UnknownModelError,
    ZooError,
)
from zoo.lazy import lazy_names
from zoo.versions import check_versions

# Refuse known-bad library releases (zoo.versions.MINIMUM_VERSIONS) before anything runs;
# versions come from distribution metadata, so this imports none of the libraries.
check_versions()

if TYPE_CHECKING:
    from zoo._family import Params, SpecProblem, register_family

__version__ = "0.1.0"

__all__ = [
    "ContractError",
    "DuplicateModelError",
    "OverrideError",
    "Params",
    "RecipeError",
    "SpecProblem",
    "UnknownModelError",
    "ZooError",
    "add_recipes",
    "bench",
    "export",
    "fit",
    "get",
    "info",
    "list",
    "preprocessor",
    "register_family",
]

#: Public names defined in modules that import pydantic: loaded on first access (PEP 562),
#: so ``import zoo`` and listing stay fast. Built-in families load on first use too.
_LAZY = {"Params": "zoo._family", "SpecProblem": "zoo._family", "register_family": "zoo._family"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


def list(pattern: str | None = None, *, tag: str | None = None) -> builtins.list[str]:
    """Names of registered models, sorted; never imports TensorFlow.

    Args:
        pattern: Optional shell-style pattern, e.g. ``"*fusion*"``.
        tag: Keep only models whose recipe has this tag.

    Returns:
        Sorted model names.

    Example:
        >>> zoo.list("cnn_*", tag="image")
        ['cnn_lstm_fusion', 'cnn_lstm_fusion_deep', 'cnn_lstm_fusion_gap', 'cnn_lstm_fusion_tiny']
    """
    return REGISTRY.names(pattern, tag)


def info(name: str, **overrides: Any) -> dict[str, Any]:
    """Describe a model from its recipe (inputs, outputs, params, tags...); no TensorFlow.

    Args:
        name: Registered model name.
        **overrides: Parameter overrides, validated as in :func:`get`.

    Returns:
        Plain data: name, family, description, tags, inputs, outputs, params, formats, source.

    Example:
        >>> zoo.info("cnn_lstm_fusion", num_classes=5)["outputs"]["probabilities"]["shape"]
        [5]
    """
    entry = REGISTRY.get(name)
    params, inputs, outputs = entry.resolve_io(overrides)
    return describe_entry(entry, params, outputs, inputs)


def get(name: str, *, seed: int | None = None, **overrides: Any) -> Any:
    """Build a registered model as a compiled Keras functional model.

    Args:
        name: Registered model name (see :func:`list`).
        seed: If given, seeds Python, NumPy and the backend
            (``keras.utils.set_random_seed``) before building, so two builds with the same
            seed have identical weights.
        **overrides: Family parameters replacing the recipe's, e.g. ``num_classes=5``.

    Returns:
        A ``keras.Model`` whose inputs and outputs carry the recipe's names.

    Raises:
        UnknownModelError: the name is not registered (close names are suggested).
        OverrideError: an override is unknown or has the wrong type or value.

    Example:
        >>> model = zoo.get("cnn_lstm_fusion_tiny", num_classes=5, seed=0)  # doctest: +SKIP
        >>> model.output["probabilities"].shape  # doctest: +SKIP
        (None, 5)
    """
    from zoo._build import build

    return build(REGISTRY.get(name), overrides, seed=seed)


def preprocessor(name: str, **overrides: Any) -> Any:
    """The step that turns raw data into a model's named inputs (e.g. text → token ids).

    Built from the same vocabulary and settings as :func:`get` with the same overrides;
    imports TensorFlow when called (listing models stays TensorFlow-free).

    Args:
        name: Registered model name whose family has a preprocessor (e.g. a
            ``bert_classifier`` recipe).
        **overrides: Parameter overrides, validated as in :func:`get`.

    Returns:
        A callable: for ``bert_classifier``, a list of strings (or a ``tf.string``
        tensor of shape ``[batch]``) → ``{"token_ids", "padding_mask", "segment_ids"}``,
        int32 of shape ``[batch, sequence_length]`` (NumPy arrays, or tf tensors for a
        tf input).

    Raises:
        UnknownModelError: the name is not registered.
        OverrideError: an override is unknown or has the wrong type or value.
        ZooError: the model's family has no preprocessor, or its files are missing.

    Example:
        >>> features = zoo.preprocessor("bert_classifier_tiny")(["great movie"])  # doctest: +SKIP
        >>> features["token_ids"].shape  # doctest: +SKIP
        (1, 16)
        >>> probs = zoo.get("bert_classifier_tiny")(features)["probabilities"]  # doctest: +SKIP
    """
    entry = REGISTRY.get(name)
    params, inputs, _ = entry.resolve_io(overrides)
    make = entry.family.preprocessor
    if make is None:
        with_hook = sorted(n for n in REGISTRY.names() if REGISTRY.get(n).family.preprocessor)
        raise ZooError(
            f"model {name!r} (family {entry.family.name!r}) has no preprocessor: its inputs "
            f"{sorted(inputs)} are fed as arrays directly. Expected a model whose "
            f"family turns raw data into inputs, e.g. {', '.join(with_hook) or 'none registered'}."
        )
    return make(params, inputs)


def add_recipes(path: str | os.PathLike[str]) -> builtins.list[str]:
    """Register every ``*.toml`` recipe in a folder of your own.

    The folder is validated at once; a bad recipe or a name that is already registered
    raises and leaves the registry as it was. Folders listed in ``$ZOO_RECIPES_PATH`` are
    registered too, their recipes validated when a model is first used (a clash of names
    fails at once).

    Args:
        path: Folder holding recipe files (file name = model name).

    Returns:
        The model names the folder added.

    Example:
        >>> zoo.add_recipes("~/my_recipes")  # doctest: +SKIP
        ['my_classifier']
    """
    return REGISTRY.add_dir(path)


def export(
    model_or_name: Any,
    out: str | os.PathLike[str],
    *,
    formats: builtins.list[str] | str | None = None,
    validate: bool = True,
    seed: int | None = 0,
    data: dict[str, Any] | None = None,
    on_failure: str = "raise",
    **overrides: Any,
) -> Any:
    """Export a model to artifacts under ``out/NAME/``, validated against Keras.

    ``model_or_name`` is a registered name or a model from :func:`get` (trained or not);
    ``data`` are real example rows ``{input name: array [N, ...]}`` for validation and int8
    calibration; ``on_failure="record"`` keeps every format that works when one fails. See
    :func:`zoo.exporters.export_model` for details (imported lazily).

    Example:
        >>> zoo.export(  # doctest: +SKIP
        ...     "cnn_lstm_fusion_tiny", "artifacts/", formats=["saved_model"]
        ... )
    """
    from zoo.exporters import export_model

    return export_model(
        model_or_name,
        Path(out),
        formats=formats,
        validate=validate,
        seed=seed,
        data=data,
        on_failure=on_failure,
        **overrides,
    )


def fit(
    model_or_name: Any,
    data: str | os.PathLike[str] | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    val_split: float | None = None,
    test_split: float | None = None,
    patience: int | None = None,
    fine_tune_layers: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_learning_rate: float | None = None,
    limit: int | None = None,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    strategy: str = "none",
    out: str | os.PathLike[str] | None = "runs",
    data_options: dict[str, Any] | None = None,
    verbose: str | int = "auto",
    **overrides: Any,
) -> Any:
    """Train a model on data matched to its contract; write a run folder.

    Settings left at ``None`` come from the recipe's ``[train]`` table, else defaults
    (10 epochs, batch 32, 10% validation, early-stopping patience 3). A transfer family
    trains in two stages: the head on the frozen base for ``epochs``, then, if
    ``fine_tune_layers`` > 0, the top blocks unfrozen (BatchNorm kept frozen) for
    ``fine_tune_epochs`` at ``fine_tune_learning_rate``. Keras ``model.fit`` stays usable
    directly: this wraps it with the data, callbacks and reports.

    Args:
        model_or_name: A registered name (built with ``seed`` and ``overrides`` inside the
            strategy's scope; ``num_classes`` follows the data unless given) or a compiled
            model from :func:`zoo.get`.
        data: A source for :func:`zoo.data.splits`: ``"digits"``, ``"sentiment"``,
            ``"digit-pairs"``, ``"cifar10"``, ``"imdb"``, an image folder, a CSV/JSONL
            file; ``None`` uses the recipe's ``[train] data``.
        epochs: Stage 1 epochs (early stopping may end it sooner).
        batch_size: Global batch size (split across replicas by a strategy).
        learning_rate: Stage 1 learning rate (default: the recipe's compile setting).
        val_split: Share of the training rows held out to pick the best epoch.
        test_split: Share held out for the final metrics (never trained or tuned on).
        patience: Early stopping after this many epochs without a better validation loss.
        fine_tune_layers: Stage 2: how many top blocks of the base to unfreeze.
        fine_tune_epochs: Stage 2 epochs.
        fine_tune_learning_rate: Stage 2 learning rate.
        limit: At most this many rows per split (quick runs).
        steps_per_epoch: Batches per epoch (default: the whole training split).
        seed: Seeds the weights, the splits and the shuffle.
        strategy: ``"none"``, ``"mirrored"`` (all local GPUs, else 2 logical CPUs) or
            ``"multiworker"`` (hosts from ``TF_CONFIG``).
        out: Parent folder of the run folder; ``None`` writes nothing.
        data_options: Source options, e.g. ``{"text_column": "review"}``.
        verbose: Keras progress: ``"auto"`` (a bar in a terminal, a line per epoch
            otherwise), 0, 1 or 2.
        **overrides: Family parameters, as in :func:`get`.

    Returns:
        A :class:`zoo.training.FitResult`: ``model``, test ``metrics``, ``history``,
        ``run_dir``, ``data``.

    Raises:
        ZooError: unknown source, data that does not fit the model, bad settings.

    Example:
        >>> result = zoo.fit("resnet50_transfer_tiny", "digits", epochs=2)  # doctest: +SKIP
        >>> result.metrics["probabilities"]["f1_macro"]  # doctest: +SKIP
        0.93
        >>> zoo.export(result.model, "artifacts/")  # doctest: +SKIP
    """
    from zoo.training import fit as run_fit

    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "val_split": val_split,
        "test_split": test_split,
        "patience": patience,
        "fine_tune_layers": fine_tune_layers,
        "fine_tune_epochs": fine_tune_epochs,
        "fine_tune_learning_rate": fine_tune_learning_rate,
        "limit": limit,
        "steps_per_epoch": steps_per_epoch,
    }
    return run_fit(
        model_or_name,
        data,
        out=out,
        seed=seed,
        strategy=strategy,
        data_options=data_options,
        verbose=verbose,
        **{k: v for k, v in settings.items() if v is not None},
        **overrides,
    )


def bench(target: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Time a model across backends; see :func:`zoo.benchmarks.run` (imported lazily).

    Example:
        >>> zoo.bench("cnn_lstm_fusion_tiny", quick=True)  # doctest: +SKIP
    """
    from zoo.benchmarks import run

    return run(str(target), **kwargs)
