"""Label smoothing for next-token targets given as ids.

Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing`` (only the
one-hot ``CategoricalCrossentropy`` does, which would need ``(B, T, vocab)``
targets). The smoothed loss puts ``1 - smoothing`` of the target mass on the
true token and spreads ``smoothing`` evenly over the vocabulary::

    loss = (1 - smoothing) * -log p[target] + smoothing * mean_k(-log p[k])

Example::

    model.compile("adam", loss=SparseCategoricalCrossentropyWithSmoothing(0.1), metrics=["accuracy"])
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of probabilities ``(..., vocab)`` against integer targets ``(...)``, label-smoothed.

    ``smoothing=0`` is Keras's ``sparse_categorical_crossentropy`` exactly.
    The output's mask (the decoder input's padding mask) is applied by Keras
    as for any loss. Under TensorFlow the softmax's logits are read back, as
    Keras's own crossentropy does, so the log is taken stably.
    """

    def __init__(self, smoothing=0.1, name="smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing={smoothing!r} must be in [0, 1), e.g. 0.1.")
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        logits = getattr(y_pred, "_keras_logits", None)
        if logits is not None:
            log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        else:
            log_p = ops.log(ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0))
        targets = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        nll = -ops.squeeze(ops.take_along_axis(log_p, targets, axis=-1), -1)
        return (1.0 - self.smoothing) * nll - self.smoothing * ops.mean(log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}
