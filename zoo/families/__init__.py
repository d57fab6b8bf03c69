"""Built-in model families. Importing this package registers them (no TensorFlow import)."""

from zoo.families import cnn_lstm_fusion

__all__ = ["cnn_lstm_fusion"]
