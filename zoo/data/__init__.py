"""Dataset loaders: real, labelled data from offline sources (installed packages).

- :func:`sentiment_lexicon`: English words rated by people (VADER lexicon), negative vs
  positive; plain Python texts and int labels for :func:`zoo.preprocessor`.
- :func:`digits`: scikit-learn's 8×8 handwritten digits, 10 classes; :func:`to_rgb`
  resizes them for an image model.
- :func:`splits` / :func:`load`: any source (the above, ``digit-pairs``, CIFAR-10, IMDB,
  image folders, CSV/JSONL texts) as ``tf.data`` pipelines matched to a model's named
  inputs and outputs; :func:`peek` says what a source holds.
- Cross-modal data (submodules): :mod:`zoo.data.pairs` (matching pairs for the dual
  encoders: digit images or spoken digits ↔ texts naming the digit, the ``zoo fit``
  sources ``digit-texts`` and ``spoken-digits``), :mod:`zoo.data.speech` (the digit words
  spoken by ``espeak-ng``: synthetic audio) and :mod:`zoo.data.digit_targets` (the
  targets of ``cross_modal_mapping``: MiniLM embeddings of the digit words, mean images).

Importing this package imports neither TensorFlow nor NumPy; the loaders import what they
need when called.

Example:
    >>> from zoo.data import sentiment_lexicon
    >>> data = sentiment_lexicon()
    >>> data.train.texts[:3], data.train.labels[:3]
    (('steal', 'greedily', 'engagers'), (0, 0, 1))
"""

from __future__ import annotations

from zoo.data.digits import Digits, LabelledImages, digits, to_rgb
from zoo.data.load import SOURCES, ModelData, SourceInfo, load, peek, splits
from zoo.data.sentiment import (
    CLASS_NAMES,
    LabelledTexts,
    SentimentLexicon,
    read_vader_lexicon,
    sentiment_lexicon,
)

__all__ = [
    "CLASS_NAMES",
    "SOURCES",
    "Digits",
    "LabelledImages",
    "LabelledTexts",
    "ModelData",
    "SentimentLexicon",
    "SourceInfo",
    "digits",
    "load",
    "peek",
    "read_vader_lexicon",
    "sentiment_lexicon",
    "splits",
    "to_rgb",
]
