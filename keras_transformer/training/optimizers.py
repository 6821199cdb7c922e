"""The chapter scripts' optimizers: by name with a schedule, and lazy Adam and RMSprop.

:func:`make_optimizer` builds the optimizer a run asks for (the book's rmsprop,
or Adam with warm-up and cosine decay, ...). Its lazy variants update only the
embedding rows a batch used.

Under TensorFlow the gradient of an ``Embedding`` is sparse (``tf.IndexedSlices``:
the rows a batch looked up, with their gradients), but Keras' Adam and RMSprop
turn it dense and update the whole table and its slots at every step: for the
IMDB model that is 20,000 x 256 values, three times, when a batch of 32 reviews
touches a few thousand rows. The lazy variants here update only those rows (and
their slots), as TensorFlow 1's ``LazyAdamOptimizer`` did. Dense gradients, and
every gradient under JAX and PyTorch (which are always dense), take the parent's
path unchanged.

Lazy is not the same algorithm: the rows a batch does not touch keep their
slots as they are instead of decaying them (and, for Adam, do not move on their
momentum). ``docs/benchmarks.md`` measures what it saves and what it changes.

    model.compile(optimizer=LazyAdam(1e-3), loss="binary_crossentropy")
"""

import keras
from keras import ops


def _touched_rows(gradient):
    """The distinct rows of a ``tf.IndexedSlices`` and each one's summed gradient."""
    import tensorflow as tf

    rows, position = tf.unique(gradient.indices)
    return rows, tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])


def _is_sparse(gradient):
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(gradient, tf.IndexedSlices)


def _rows(values, rows):
    import tensorflow as tf

    return tf.IndexedSlices(values, rows)


@keras.saving.register_keras_serializable(package="keras_transformer")
class LazyAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that updates only the rows a sparse gradient touches (see the module)."""

    def update_step(self, gradient, variable, learning_rate):
        if not _is_sparse(gradient) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        rows, grad = _touched_rows(gradient)
        grad = ops.cast(grad, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        alpha = ops.cast(learning_rate, variable.dtype) * ops.sqrt(1 - ops.power(self.beta_2, step)) / (
            1 - ops.power(self.beta_1, step))
        index = self._get_variable_index(variable)
        m = ops.take(self._momentums[index], rows, axis=0) * self.beta_1 + grad * (1 - self.beta_1)
        v = ops.take(self._velocities[index], rows, axis=0) * self.beta_2 + ops.square(grad) * (1 - self.beta_2)
        self.assign(self._momentums[index], _rows(m, rows))
        self.assign(self._velocities[index], _rows(v, rows))
        self.assign_sub(variable, _rows(m * alpha / (ops.sqrt(v) + self.epsilon), rows))


@keras.saving.register_keras_serializable(package="keras_transformer")
class LazyRMSprop(keras.optimizers.RMSprop):
    """``keras.optimizers.RMSprop`` that updates only the rows a sparse gradient touches (see the module)."""

    def update_step(self, gradient, variable, learning_rate):
        if not _is_sparse(gradient) or self.momentum > 0 or self.centered:
            return super().update_step(gradient, variable, learning_rate)
        rows, grad = _touched_rows(gradient)
        grad = ops.cast(grad, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        v = ops.take(velocity, rows, axis=0) * self.rho + ops.square(grad) * (1 - self.rho)
        self.assign(velocity, _rows(v, rows))
        increment = ops.cast(learning_rate, variable.dtype) * grad / ops.sqrt(v + self.epsilon)
        self.assign_sub(variable, _rows(increment, rows))


LAZY = {"adam": LazyAdam, "rmsprop": LazyRMSprop}


def check_optimizer_settings(optimizer, lazy_embedding_updates=False):
    """A one-line ValueError for settings :func:`make_optimizer` cannot build."""
    if lazy_embedding_updates and optimizer not in LAZY:
        raise ValueError(f"lazy_embedding_updates needs optimizer {' or '.join(sorted(LAZY))}, not {optimizer}")


def make_optimizer(name="rmsprop", learning_rate=None, decay_steps=None, weight_decay=None, ema_momentum=None,
                   warmup_steps=0, lazy=False):
    """A Keras optimizer by name, with an optional cosine decay of its rate.

    Args:
        name: any name ``keras.optimizers.get`` knows (book: ``"rmsprop"``).
        learning_rate: starting rate; None keeps the optimizer's default (0.001).
        decay_steps: if given, the rate follows a cosine from ``learning_rate``
            (default 0.001) down to zero over this many steps (warm-up included).
        warmup_steps: with ``decay_steps``, a linear rise from 0 first.
        weight_decay: decoupled weight decay (e.g. 0.01 with ``"adamw"``).
        ema_momentum: also keep a moving average of the weights with this
            momentum (``TrainingRun.fit(..., swap_ema=True)`` validates with it).
        lazy: Adam or RMSprop updating only the embedding rows a batch touched
            (:mod:`keras_transformer.training.optimizers`; TensorFlow's sparse gradients).

    Returns:
        The name itself when nothing is configured (Keras builds the default),
        else a ``keras.optimizers.Optimizer``.
    """
    if decay_steps:
        peak = 1e-3 if learning_rate is None else float(learning_rate)
        warmup = max(min(int(warmup_steps), int(decay_steps) - 1), 0)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else peak, int(decay_steps) - warmup, warmup_target=peak if warmup else None,
            warmup_steps=warmup)
    config = {}
    if learning_rate is not None:
        config["learning_rate"] = learning_rate
    if weight_decay is not None:
        config["weight_decay"] = float(weight_decay)
    if ema_momentum is not None:
        config.update(use_ema=True, ema_momentum=float(ema_momentum))
    if lazy:
        if name not in LAZY:
            raise ValueError(f"lazy updates exist for {sorted(LAZY)}, not {name!r}.")
        return LAZY[name](**config)
    return keras.optimizers.get({"class_name": name, "config": config}) if config else name
