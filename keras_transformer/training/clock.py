"""How long until a model is as good as the book's: accuracy against the clock, and FLOP use.

An epoch's speed is not what a reader waits for; the time until the model
reaches the book's accuracy is. :class:`AccuracyClock` measures it during
``fit``: every ``every`` training steps it scores a fixed held-out sample and
notes the training time so far (its own evaluations excluded) and the time
with them::

    clock = AccuracyClock(sample_ds, every=200, target=0.67)
    model.fit(train_ds, epochs=2, callbacks=[clock])
    clock.reached   # {"step": 1400, "train_seconds": 301.2, "seconds": 318.9, "accuracy": 0.671}

:func:`matmul_flops_per_second` measures what the machine's matrix product
does in the same process, the yardstick of model-FLOP utilisation (MFU):
the model's training FLOPs per second over it.
"""

import time

import keras
import numpy as np


def sample_accuracy(model, sample):
    """Accuracy of ``model`` on ``sample`` (a finite dataset of ``(inputs, targets)``, or ``(inputs, targets,
    weights)`` whose weight-0 rows are not counted), as ``fit`` counts it.

    A ``(B, 1)`` or ``(B,)`` output is a binary probability (IMDB); a
    ``(B, T, vocab)`` output is next-token probabilities counted where the
    decoder input is not padding (the book's measure (a) of translation).
    """
    hits = total = 0
    for inputs, targets, *weights in sample:
        # The compiled predict step (a tf.function, or jax.jit once per batch shape), not eager calls.
        inputs = keras.tree.map_structure(np.asarray, inputs)
        probabilities = np.asarray(model.predict_on_batch(inputs)).astype("float32")
        targets = np.asarray(targets)
        if probabilities.ndim == 3:
            mask = np.asarray(inputs["spanish"]) != 0 if isinstance(inputs, dict) else np.ones(targets.shape, bool)
            hit = probabilities.argmax(-1) == targets
        else:
            hit = (probabilities.reshape(-1) >= 0.5) == (targets.reshape(-1) >= 0.5)
            mask = np.ones(hit.shape, bool)
        if weights:  # filler rows of a fixed-size batch weigh 0
            mask = mask & (np.asarray(weights[0]) > 0).reshape((-1,) + (1,) * (mask.ndim - 1))
        hits += int(np.sum(hit & mask))
        total += int(np.sum(mask))
    return hits / max(total, 1)


class AccuracyClock(keras.callbacks.Callback):
    """Scores a held-out sample every ``every`` optimizer steps and at each epoch end, against the clock.

    ``points``: ``[{"step", "train_seconds", "seconds", "accuracy"}, ...]``;
    ``train_seconds`` leaves out the clock's own evaluations (and ``fit``'s
    end-of-epoch validation), ``seconds`` is the wall time since training
    began. ``reached``: the first point at or above ``target`` (None if none).
    With ``steps_per_execution > 1`` a check falls on the first execution at
    or past each multiple of ``every``.
    """

    def __init__(self, sample, every, target=None):
        super().__init__()
        if every < 1:
            raise ValueError(f"every={every!r} must be a positive number of steps, e.g. 200.")
        self.sample, self.every, self.target = sample, int(every), target
        self.points, self.reached = [], None
        self.flops_per_step = None  # set it (transformer_training_flops / steps) for FLOP rates

    def _steps(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._first_step = self._steps()
        self._paused = 0.0
        self._next = (self._steps() // self.every + 1) * self.every

    def _check(self):
        pause = time.perf_counter()
        accuracy = sample_accuracy(self.model, self.sample)
        now = time.perf_counter()
        point = {"step": self._steps(), "train_seconds": pause - self._start - self._paused,
                 "seconds": now - self._start, "accuracy": accuracy}
        self._paused += now - pause
        if self.flops_per_step and point["train_seconds"] > 0:
            point["model_flops_per_second"] = self.flops_per_step * (point["step"] - self._first_step) / point["train_seconds"]
        self.points.append(point)
        if self.reached is None and self.target is not None and accuracy >= self.target:
            self.reached = point

    def on_train_batch_end(self, batch, logs=None):
        if self._steps() >= self._next:
            self._check()
            self._next = (self._steps() // self.every + 1) * self.every

    def on_test_begin(self, logs=None):  # fit's validation is not training time
        self._validation_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if getattr(self, "_validation_start", None) is not None:
            self._paused += time.perf_counter() - self._validation_start
            self._validation_start = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.points or self.points[-1]["step"] != self._steps():
            self._check()

    def summary(self):
        return {"every_steps": self.every, "target": self.target, "flops_per_step": self.flops_per_step,
                "reached": self.reached, "points": self.points}


def matmul_flops_per_second(size=2048, dtype="float32", repeats=10):
    """Median FLOP/s of a ``size x size`` matrix product in ``dtype`` on this backend (``2 size^3`` FLOPs each)."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.normal(size=(size, size)).astype("float32"), dtype=dtype)
    b = keras.ops.convert_to_tensor(rng.normal(size=(size, size)).astype("float32"), dtype=dtype)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    seconds = []
    for _ in range(repeats):
        begin = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        seconds.append(time.perf_counter() - begin)
    return 2 * size**3 / float(np.median(seconds))


def transformer_training_flops(model, batches):
    """Matrix-product FLOPs of training ``model`` (forward and backward, 3x forward) on ``batches``.

    ``batches``: ``(inputs, targets)`` pairs as ``fit`` sees them. Every
    kernel of two or more dimensions outside an embedding costs ``2 * size``
    FLOPs per token it is applied to (source tokens for the encoder, target
    tokens for the decoder and output layer; review tokens for a classifier,
    whose head sees one vector a review), plus attention's scores and
    weighted sums, ``4 * length * key_dim * heads`` per query token.
    Embedding lookups, softmax, normalization and element-wise ops are not
    counted (as nanoGPT's ``estimate_mfu`` does).
    """
    def side(path):
        if path.startswith(("decoder", "output_projection")):
            return "target"
        if "embedding" in path:
            return None
        return "source" if path.startswith("encoder") or path.startswith("transformer_encoder") else "head"

    per_token = {"source": 0, "target": 0, "head": 0}
    for weight in model.weights:
        if len(weight.shape) >= 2 and not weight.path.endswith("bias") and side(weight.path) is not None:
            per_token[side(weight.path)] += 2 * int(np.prod(weight.shape))
    attention = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if hasattr(layer, "num_heads") and hasattr(layer, "key_dim") and layer.__class__.__name__ == "MultiHeadAttention":
            attention.append((layer.path, int(layer.num_heads) * int(layer.key_dim or 0)))
    total = 0
    for inputs, *_ in batches:  # filler rows of fixed-size batches are computed too: counted
        if isinstance(inputs, dict):
            source, target = np.asarray(inputs["english"]), np.asarray(inputs["spanish"])
        else:
            source, target = np.asarray(inputs), None
        batch, source_length = source.shape
        flops = per_token["source"] * batch * source_length + per_token["head"] * batch
        if target is not None:
            target_length = target.shape[1]
            flops += per_token["target"] * batch * target_length
        for path, width in attention:
            if path.startswith("decoder"):
                keys = source_length if "cross" in path else target_length
                flops += 4 * batch * target_length * keys * width
            else:
                flops += 4 * batch * source_length * source_length * width
        total += 3 * flops
    return total


__all__ = ["AccuracyClock", "matmul_flops_per_second", "sample_accuracy", "transformer_training_flops"]
