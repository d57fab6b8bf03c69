"""Raw strings → the named int32 inputs of a ``bert_classifier`` model.

WordPiece tokenization (keras-hub ``BertTokenizer``, i.e. tensorflow-text
``FastWordpieceTokenizer``) followed by ``[CLS] … [SEP]`` packing, truncation and padding
to a fixed length (keras-hub ``BertTextClassifierPreprocessor``). The same TensorFlow ops
run eagerly here and inside the SavedModel ``serve_text`` signature, so both give the
same token ids. Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError, describe

#: The model inputs this step produces, in a fixed order.
INPUT_NAMES = ("token_ids", "padding_mask", "segment_ids")


class TextPreprocessor:
    """Turns a batch of strings into ``{"token_ids", "padding_mask", "segment_ids"}``.

    Each string becomes ``[CLS] word pieces… [SEP]`` padded with ``[PAD]`` (id 0) or
    truncated to ``sequence_length`` tokens; ``padding_mask`` is 1 on real tokens and 0 on
    padding; ``segment_ids`` are all 0 (one segment). All int32 of shape
    ``[batch, sequence_length]``.

    Args:
        tokenizer: A keras-hub ``BertTokenizer``.
        sequence_length: Padded length of every row.

    Example:
        >>> pre = zoo.preprocessor("bert_classifier_tiny")  # doctest: +SKIP
        >>> pre(["great movie", "dull"])["token_ids"].shape  # doctest: +SKIP
        (2, 16)
    """

    input_names = INPUT_NAMES

    def __init__(self, tokenizer: Any, sequence_length: int):
        import keras_hub

        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self._packer = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length
        )
        self._graph: Any = None

    def __repr__(self) -> str:
        return (
            f"TextPreprocessor(vocabulary_size={self.tokenizer.vocabulary_size()}, "
            f"sequence_length={self.sequence_length})"
        )

    def __call__(self, texts: Any) -> dict[str, Any]:
        """Tokenize a batch.

        Args:
            texts: A list/tuple/NumPy array of ``str`` (or ``bytes``), or a ``tf.string``
                tensor of shape ``[batch]``.

        Returns:
            Name → int32 array ``[batch, sequence_length]``: NumPy for Python or NumPy
            input, ``tf.Tensor`` for a tf input.

        Raises:
            ZooError: ``texts`` is not a batch of strings.
        """
        import tensorflow as tf

        if isinstance(texts, tf.Tensor):
            if texts.dtype != tf.string or texts.shape.rank != 1:
                raise ZooError(
                    f"text preprocessor: received a {texts.dtype.name} tensor of shape "
                    f"{texts.shape}; expected a tf.string tensor of shape [batch]. Wrap one "
                    "string as [text]."
                )
            return self._traced()(texts)
        items = _as_strings(texts)
        batch = tf.constant(items, dtype=tf.string, shape=[len(items)])
        return {k: v.numpy() for k, v in self._traced()(batch).items()}

    def tf_features(self, texts: Any) -> dict[str, Any]:
        """Graph-safe core: ``tf.string [batch]`` → int32 tf tensors (used in tf.function)."""
        import tensorflow as tf

        features = self._packer(texts)
        return {name: tf.cast(features[name], tf.int32) for name in INPUT_NAMES}

    def _traced(self) -> Any:
        """:meth:`tf_features` as a ``tf.function``: the same graph ``serve_text`` runs.

        Eager keras-hub packing mishandles an empty batch (it returns one unbatched row).
        """
        import tensorflow as tf

        if self._graph is None:
            self._graph = tf.function(
                self.tf_features,
                input_signature=[tf.TensorSpec([None], tf.string)],
                autograph=False,
            )
        return self._graph


def _as_strings(texts: Any) -> list[str | bytes]:
    """Check a Python/NumPy batch of strings; raise a ZooError naming the bad element."""
    if isinstance(texts, (str, bytes)):
        raise ZooError(
            f"text preprocessor: received one string {describe(texts)}; expected a batch "
            "(list) of strings. Wrap it as [text]."
        )
    try:
        items = list(texts)
    except TypeError:
        raise ZooError(
            f"text preprocessor: received {describe(texts)}; expected a list of strings or "
            "a tf.string tensor of shape [batch]."
        ) from None
    for i, item in enumerate(items):
        if not isinstance(item, (str, bytes)):
            raise ZooError(
                f"text preprocessor: element {i} is {describe(item)}; expected str. Convert "
                "the batch to a list of strings."
            )
    return items
