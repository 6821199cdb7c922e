"""Token-level layers of the IMDB models: one-hot ids and word dropout."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class OneHot(layers.Layer):
    """Token ids to one-hot vectors (the book's ``tf.one_hot``, as a savable layer).

    Args:
        depth: vocabulary size.

    Call arguments:
        inputs: `(B, T)` integer token ids in `[0, depth)`.

    Returns:
        `(B, T, depth)` floats; no mask (the book's one-hot model sees padding).

    Example:
    >>> OneHot(depth=4)(ops.array([[1, 3]])).shape
    (1, 2, 4)
    """

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)

    def call(self, inputs):
        return ops.one_hot(ops.cast(inputs, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.depth,)

    def get_config(self):
        config = super().get_config()
        config.update({"depth": self.depth})
        return config


@keras.saving.register_keras_serializable(package="keras_transformer")
class TokenDropout(layers.Layer):
    """Word dropout: in training, each real token becomes ``[UNK]`` with probability ``rate``.

    A data augmentation for text classifiers: the model cannot lean on any
    single word. Padding (id 0) stays padding, so masks and lengths do not
    change; at inference the layer passes ids through.

    Args:
        rate: probability of replacing a token, in [0, 1).
        unknown_id: the vectorizer's out-of-vocabulary id (Keras: 1).
        seed: seed of the layer's random generator.

    Call arguments:
        inputs: `(B, T)` integer token ids.
        training: replace tokens only when true.

    Example:
    >>> ids = ops.array([[5, 6, 0]])
    >>> ops.convert_to_numpy(TokenDropout(0.5)(ids, training=False)).tolist()
    [[5, 6, 0]]
    """

    def __init__(self, rate, unknown_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"TokenDropout rate must be in [0, 1); got {rate!r}.")
        self.rate = float(rate)
        self.unknown_id = int(unknown_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        drop = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) < self.rate
        drop = ops.logical_and(drop, ops.not_equal(inputs, 0))
        return ops.where(drop, ops.cast(self.unknown_id, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed})
        return config
