"""Training and scoring dual encoders: objectives, a training wrapper, retrieval metrics.

The objectives live here, in the training path, never in the exported inference graph:
:func:`fit_pairs` wraps the pair model (``image_text_dual_encoder``,
``audio_text_dual_encoder``) in a :class:`PairTrainer` whose ``compute_loss`` reads both
towers' embeddings and the rows' classes; the wrapped model itself is what is saved and
exported. Objectives (recipe ``objective``), for a batch of ``B`` matching pairs with unit
embeddings ``u_i`` (first modality) and ``v_j`` (text), similarity ``s_ij = u_i·v_j``,
distance ``d_ij = sqrt(2 - 2 s_ij)``, and ``P_ij`` = rows i and j show the same class:

- ``softmax`` (default, CLIP): cross-entropy of ``softmax(s_ij / T)`` over j (and over i)
  against the uniform distribution over j's of i's class; the temperature ``T`` is
  learned (log-parametrised, ``1/T`` capped at 100).
- ``contrastive`` (Siamese pairs, Hadsell et al. 2006): mean over same-class pairs of
  ``d²`` plus mean over other pairs of ``max(0, margin - d)²``.
- ``triplet`` (margin ``α``): mean over the (anchor, positive, negative) triplets that
  violate the margin of ``max(0, d_ap - d_an + α)``, anchors from both modalities
  ("batch all" mining).

Scoring (:func:`recall_at_1`): each query retrieves its nearest item of the other
modality among all test items; a hit is an item of the query's class. Chance is
``Σ_c q_c g_c`` (class shares of queries and gallery). :func:`matching_probabilities`
is the matching-network classifier (Vinyals et al. 2016): attention over a labelled
support set's embeddings.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import numpy as np

    from zoo.data.pairs import PairData, PairSplit

#: Largest inverse temperature the softmax objective may learn (CLIP's cap).
MAX_SCALE = 100.0


# --------------------------------------------------------------------------- objectives


def pair_loss(
    first: Any,
    text: Any,
    labels: Any,
    *,
    objective: str,
    scale: Any = 10.0,
    margin: float = 0.5,
) -> Any:
    """The objective's loss for a batch of unit embeddings (``keras.ops``, any backend).

    Args:
        first: ``[B, d]`` unit embeddings of the first modality (image or audio).
        text: ``[B, d]`` unit embeddings of the texts; row i matches row i.
        labels: ``[B]`` class of each row (rows of one class match each other too).
        objective: ``"softmax"``, ``"contrastive"`` or ``"triplet"``.
        scale: Inverse temperature of ``softmax``.
        margin: Margin of ``contrastive`` and ``triplet``.

    Example:
        >>> import numpy as np  # doctest: +SKIP
        >>> u = np.eye(2, dtype="float32")  # doctest: +SKIP
        >>> labels = np.array([0, 1])  # doctest: +SKIP
        >>> float(pair_loss(u, u, labels, objective="triplet", margin=0.5))  # doctest: +SKIP
        0.0
    """
    from keras import ops

    sim = ops.matmul(first, ops.transpose(text))
    labels = ops.reshape(labels, (-1,))
    same = ops.cast(ops.equal(labels[:, None], labels[None, :]), sim.dtype)
    if objective == "softmax":
        logits = sim * scale
        target = same / ops.sum(same, axis=1, keepdims=True)
        forward = -ops.sum(target * ops.log_softmax(logits, axis=1), axis=1)
        target_t = ops.transpose(same) / ops.sum(same, axis=0, keepdims=True)
        backward = -ops.sum(ops.transpose(target_t) * ops.log_softmax(logits, axis=0), axis=0)
        return (ops.mean(forward) + ops.mean(backward)) / 2.0
    dist = ops.sqrt(ops.maximum(2.0 - 2.0 * sim, 1e-12))
    other = 1.0 - same
    if objective == "contrastive":
        pos = ops.sum(same * dist**2) / ops.maximum(ops.sum(same), 1.0)
        neg = ops.sum(other * ops.relu(margin - dist) ** 2) / ops.maximum(ops.sum(other), 1.0)
        return pos + neg
    if objective == "triplet":
        total = 0.0
        for d, s in ((dist, same), (ops.transpose(dist), ops.transpose(same))):
            # [anchor, positive, negative]: d_ap - d_an + margin over valid triplets.
            valid = s[:, :, None] * (1.0 - s)[:, None, :]
            loss = ops.relu(d[:, :, None] - d[:, None, :] + margin) * valid
            active = ops.cast(loss > 1e-9, loss.dtype)
            total = total + ops.sum(loss) / ops.maximum(ops.sum(active), 1.0)
        return total / 2.0
    raise ZooError(
        f"unknown objective {objective!r}; expected one of softmax, contrastive, triplet."
    )


def trainer_class() -> type:
    """The :class:`PairTrainer` Keras class (defined on first call: imports Keras)."""
    global _TRAINER
    if _TRAINER is None:
        import keras

        class PairTrainer(keras.Model):
            """Training wrapper: the pair model plus the objective (and its temperature).

            ``call`` is the pair model's; ``compute_loss`` applies the objective to the
            two embeddings and the classes passed as ``y``. Save and export
            ``trainer.encoder``, never the wrapper.
            """

            def __init__(
                self,
                encoder: Any,
                *,
                first: str,
                objective: str,
                temperature: float,
                learn_temperature: bool,
                margin: float,
                **kwargs: Any,
            ) -> None:
                super().__init__(**kwargs)
                self.encoder = encoder
                self.first = first
                self.objective = objective
                self.margin = float(margin)
                self.log_scale = self.add_weight(
                    shape=(),
                    initializer=keras.initializers.Constant(math.log(1.0 / temperature)),
                    trainable=learn_temperature,
                    name="log_scale",
                )

            def call(self, inputs: Any, training: bool = False) -> Any:
                return self.encoder(inputs, training=training)

            def scale(self) -> Any:
                return keras.ops.minimum(keras.ops.exp(self.log_scale), MAX_SCALE)

            def compute_loss(
                self,
                x: Any = None,
                y: Any = None,
                y_pred: Any = None,
                sample_weight: Any = None,
                training: bool = True,
            ) -> Any:
                return pair_loss(
                    y_pred[f"{self.first}_embedding"],
                    y_pred["text_embedding"],
                    y,
                    objective=self.objective,
                    scale=self.scale(),
                    margin=self.margin,
                )

        _TRAINER = PairTrainer
    return _TRAINER


_TRAINER: type | None = None


# ----------------------------------------------------------------------------- scoring


def recall_at_1(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
) -> float:
    """Share of queries whose nearest gallery item (cosine) is of the query's class.

    Example:
        >>> import numpy as np
        >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> recall_at_1(q, q[::-1], np.array([0, 1]), np.array([1, 0]))
        1.0
    """
    import numpy as np

    q = _unit(queries)
    g = _unit(gallery)
    nearest = np.argmax(q @ g.T, axis=1)
    return float(np.mean(np.asarray(gallery_labels)[nearest] == np.asarray(query_labels)))


def chance_recall(query_labels: np.ndarray, gallery_labels: np.ndarray) -> float:
    """Recall@1 of a random retrieval: ``Σ_c`` (query share of c) × (gallery share of c)."""
    import numpy as np

    classes = np.union1d(query_labels, gallery_labels)
    q = np.array([np.mean(query_labels == c) for c in classes])
    g = np.array([np.mean(gallery_labels == c) for c in classes])
    return float(q @ g)


def matching_probabilities(
    queries: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    *,
    num_classes: int,
    scale: float = 10.0,
) -> np.ndarray:
    """Matching-network classifier: class probabilities of queries from a support set.

    ``p(c | q) = Σ_{j: y_j = c} softmax_j(scale · cos(q, s_j))``: attention over the
    labelled support embeddings (e.g. the texts "seven", "7", "number seven", … embedded
    by the text tower classify images embedded by the image tower).

    Returns:
        float64 ``[queries, num_classes]``, rows summing to 1.

    Example:
        >>> import numpy as np
        >>> s = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> matching_probabilities(np.array([[0.9, 0.1]]), s, np.array([0, 1]),
        ...                        num_classes=2).argmax(axis=1)
        array([0])
    """
    import numpy as np

    logits = scale * (_unit(queries) @ _unit(support).T)
    logits -= logits.max(axis=1, keepdims=True)
    attention = np.exp(logits)
    attention /= attention.sum(axis=1, keepdims=True)
    one_hot = np.eye(num_classes)[np.asarray(support_labels, dtype=np.int64)]
    return attention @ one_hot


def _unit(x: Any) -> np.ndarray:
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------- training


@dataclass
class PairFitResult:
    """What :func:`fit_pairs` measured.

    Attributes:
        model: The trained pair model (the encoder, not the training wrapper).
        objective: The objective trained with.
        recall: Held-out (test) recall@1 by direction, e.g. ``{"image→text": 0.93,
            "text→image": 0.95}``.
        chance: Recall@1 of a random retrieval on the same test items.
        matching_accuracy: Test accuracy of the matching-network classifier (queries of
            the first modality, support = the texts of the training split).
        history: Keras history (``loss`` per epoch).
        temperature: The final softmax temperature (learned or fixed).
        seconds: Training time.
    """

    model: Any
    objective: str
    recall: dict[str, float]
    chance: float
    matching_accuracy: float
    history: dict[str, list[float]] = field(default_factory=dict)
    temperature: float = float("nan")
    seconds: float = 0.0


def fit_pairs(
    model_or_name: Any,
    data: PairData,
    *,
    objective: str | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float | None = None,
    seed: int = 0,
    verbose: int | str = 0,
    callbacks: list[Any] | None = None,
) -> PairFitResult:
    """Train a dual encoder on matching pairs and score held-out retrieval.

    Args:
        model_or_name: A pair model from :func:`zoo.get` (its recipe gives the objective,
            temperature and margin) or a registered dual-encoder name (built with ``seed``).
        data: Pairs from :func:`zoo.data.pairs.digit_texts` /
            :func:`~zoo.data.pairs.spoken_digit_texts` with the model's input shapes.
        objective: ``"softmax"``, ``"contrastive"`` or ``"triplet"``; default the recipe's.
        epochs: Passes over the training pairs.
        batch_size: Pairs per batch: the in-batch negatives (the last partial batch is
            dropped so every batch has as many).
        learning_rate: Adam learning rate; default the recipe's.
        seed: Seed of the build (by name) and of the shuffle.
        verbose: Keras ``fit`` verbosity.
        callbacks: Keras callbacks for the training (e.g. ``CSVLogger``).

    The validation split, when it holds a full batch, gives ``val_loss`` per epoch (the
    same objective over in-batch negatives of the same size).

    Returns:
        The trained model and held-out recall@1 both ways, against chance.

    Raises:
        ZooError: the model is not a pair model, or the data does not fit its inputs.

    Example:
        >>> from zoo.data.pairs import digit_texts  # doctest: +SKIP
        >>> data = digit_texts(image_shape=(16, 16, 3), sequence_length=6)  # doctest: +SKIP
        >>> fit_pairs("image_text_dual_encoder_tiny", data, epochs=3).recall  # doctest: +SKIP
        {'image→text': 0.8..., 'text→image': 0.8...}
    """
    import keras

    import zoo
    from zoo._build import origin
    from zoo.registry import REGISTRY

    model = zoo.get(model_or_name, seed=seed) if isinstance(model_or_name, str) else model_or_name
    found = origin(model)
    params = REGISTRY.get(found.name).resolve(found.overrides)[0] if found else None
    first = data.modality
    wanted = {f"{first}_embedding", "text_embedding"}
    if not isinstance(model.output, dict) or not wanted <= set(model.output):
        raise ZooError(
            f"fit_pairs trains a pair model with outputs {sorted(wanted)}, received "
            f"{describe_outputs(model)}; build the recipe with part='pair'."
        )
    _check_inputs(model, data.train)
    objective = objective or str(getattr(params, "objective", "softmax"))
    rate = learning_rate or float(getattr(params, "learning_rate", 1e-3))
    keras.utils.set_random_seed(seed)
    trainer = trainer_class()(
        model,
        first=first,
        objective=objective,
        temperature=float(getattr(params, "temperature", 0.1)),
        learn_temperature=bool(getattr(params, "learn_temperature", True)),
        margin=_margin(params, objective),
    )
    trainer.compile(optimizer=keras.optimizers.Adam(rate))
    batches = _batches(data.train, batch_size, seed)
    val = (
        _batches(data.val, batch_size, seed, shuffle=False) if len(data.val) >= batch_size else None
    )
    started = time.perf_counter()
    history = trainer.fit(
        batches, validation_data=val, epochs=epochs, verbose=verbose, callbacks=callbacks
    )
    seconds = time.perf_counter() - started
    recall, chance, matching = score_pairs(model, data, first=first)
    return PairFitResult(
        model=model,
        objective=objective,
        recall=recall,
        chance=chance,
        matching_accuracy=matching,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        temperature=float(1.0 / float(keras.ops.convert_to_numpy(trainer.scale()))),
        seconds=seconds,
    )


def _margin(params: Any, objective: str) -> float:
    from zoo.families._dual import DEFAULT_MARGINS

    margin = getattr(params, "margin", None)
    return float(margin) if margin is not None else DEFAULT_MARGINS.get(objective, 0.5)


def score_pairs(
    model: Any, data: PairData, *, first: str | None = None
) -> tuple[dict[str, float], float, float]:
    """Held-out recall@1 both ways, its chance level and matching-network accuracy.

    Returns:
        ``({"<first>→text": r, "text→<first>": r}, chance, matching accuracy)`` on the
        test split; the matching support set is the training split's texts.
    """
    import numpy as np

    first = first or data.modality
    test = embed(model, data.test.inputs)
    u, v = test[f"{first}_embedding"], test["text_embedding"]
    labels = np.asarray(data.test.labels)
    recall = {
        f"{first}→text": recall_at_1(u, v, labels, labels),
        f"text→{first}": recall_at_1(v, u, labels, labels),
    }
    support = embed(model, data.train.inputs)["text_embedding"]
    probs = matching_probabilities(
        u, support, np.asarray(data.train.labels), num_classes=len(data.class_names)
    )
    matching = float(np.mean(probs.argmax(axis=1) == labels))
    return recall, chance_recall(labels, labels), matching


def embed(model: Any, inputs: dict[str, Any], batch_size: int = 256) -> dict[str, np.ndarray]:
    """The model's outputs for numpy inputs, in batches (inference mode)."""
    import numpy as np

    names = {t.name for t in model.inputs}
    feed = {k: v for k, v in inputs.items() if k in names}
    out = model.predict(feed, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def describe_outputs(model: Any) -> str:
    """A model's output names (sorted), or the type of an unnamed output."""
    out = model.output
    return str(sorted(out)) if isinstance(out, dict) else type(out).__name__


def _check_inputs(model: Any, split: PairSplit) -> None:
    for t in model.inputs:
        if t.name not in split.inputs:
            raise ZooError(
                f"the pairs have inputs {sorted(split.inputs)}, the model reads {t.name!r}; "
                "build the data with the model's modality and text tower (lstm: tokens)."
            )
        got = tuple(split.inputs[t.name].shape[1:])
        want = tuple(int(d) for d in t.shape[1:])
        if got != want:
            raise ZooError(
                f"pairs input {t.name!r} has rows of shape {list(got)}, the model expects "
                f"{list(want)}; build the data with the model's shapes (e.g. "
                "digit_texts(image_shape=..., sequence_length=...))."
            )


def _batches(split: PairSplit, batch_size: int, seed: int, *, shuffle: bool = True) -> Any:
    import tensorflow as tf

    if len(split) < batch_size:
        raise ZooError(
            f"{len(split)} training pairs are fewer than one batch of {batch_size}; lower "
            "batch_size."
        )
    ds = tf.data.Dataset.from_tensor_slices((dict(split.inputs), split.labels))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)
