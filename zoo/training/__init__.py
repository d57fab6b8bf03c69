"""Training: :func:`zoo.fit` and ``zoo fit`` on top of Keras ``fit`` and tf.distribute.

- :func:`fit` trains a registered model (or one built by :func:`zoo.get`) on data matched
  to its contract and writes a run folder (:mod:`zoo.training.run`).
- :func:`load_run` reads a run folder back (``zoo export NAME --from RUN``).
- :mod:`zoo.training.distribute`: the strategies (``none``, ``mirrored``,
  ``multiworker``).
- :mod:`zoo.training.report`: held-out metrics, intervals, plots.

Nothing here imports TensorFlow until a function is called.
"""

from __future__ import annotations

from zoo.training._fit import FitResult, FitSettings, fit
from zoo.training.run import FitRun, load_run

__all__ = ["FitResult", "FitRun", "FitSettings", "fit", "load_run"]
