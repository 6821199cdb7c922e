"""What both chapters' `tf.data` pipelines share: an order set by (seed, epoch) and a known length."""

import tensorflow as tf


def batched(tensors, batch, shuffle=False, seed=None, epoch=None, prepare=None, count=None):
    """The examples in `tensors`, in order or shuffled, batched by `batch`, of known length.

    Args:
        tensors: a nested structure of tensors (or arrays) whose first axis
            indexes the examples, e.g. `(ids, labels)`.
        batch: a function from a dataset of examples to a dataset of batches
            (plain ``batch``, or grouping by length).
        shuffle: visit the examples in a new random order every epoch.
        seed: the shuffle's seed (an int).
        epoch: None, or a ``tf.Variable`` holding the epoch being trained
            (``keras_transformer.training.EpochCounter`` keeps it). Given one,
            epoch ``e`` visits the examples in a permutation that depends on
            ``(seed, e)`` alone, so a run resumed at epoch ``e`` sees the same
            orders as one never interrupted. Without it, the order changes at
            every pass.
        prepare: an optional function applied to each example before batching.
        count: the number of batches, if known (else counted once).

    Returns:
        The batched dataset, prefetched, with its cardinality set (Keras'
        progress bar then knows an epoch's length from the first epoch).

    Example::

        ds = batched((ids, labels), lambda d: d.batch(32), shuffle=True, seed=1337, epoch=counter.variable)
    """
    tensors = tf.nest.map_structure(tf.convert_to_tensor, tensors)
    size = int(tf.nest.flatten(tensors)[0].shape[0])

    def examples(order):
        ds = order.map(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors))
        return batch(ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE) if prepare else ds)

    in_order = tf.data.Dataset.range(size)
    if not shuffle:
        out = examples(in_order)
    elif epoch is None:
        out = examples(in_order.shuffle(max(size, 1), seed=seed, reshuffle_each_iteration=True))
    else:
        base_seed = tf.constant(0 if seed is None else int(seed), tf.int64)

        def one_epoch(_):
            seeds = tf.stack([base_seed, tf.cast(epoch, tf.int64)])
            order = tf.random.experimental.stateless_shuffle(tf.range(size, dtype=tf.int64), seed=seeds)
            return examples(tf.data.Dataset.from_tensor_slices(order))

        out = tf.data.Dataset.range(1).flat_map(one_epoch)
    if count is None:
        # Batches by length are as many whatever the order: each length bucket
        # holds the same examples, so one count serves every epoch.
        count = int(examples(in_order).reduce(0, lambda n, _: n + 1))
    return out.apply(tf.data.experimental.assert_cardinality(count)).prefetch(tf.data.AUTOTUNE)


def compiles_each_shape(jit_compile="auto"):
    """Whether the training and validation steps compile once per batch shape.

    JAX compiles a step function for each new shape (and so does PyTorch where it
    compiles); TensorFlow does only under XLA: ``jit_compile`` ``"on"`` (or True),
    or ``"auto"`` where Keras turns XLA on, on a machine with an accelerator.
    TensorFlow's graphs without XLA take any shape.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return True
    if jit_compile in ("on", True):
        return True
    if jit_compile in ("off", False):
        return False
    import tensorflow as tf

    return any(device.device_type != "CPU" for device in tf.config.list_physical_devices())


def width_multiple(value, compiled, jit_compile="auto"):
    """``value`` if given (at least 1), else ``compiled`` where each batch shape compiles, else 1.

    Batches cut by length are padded to a multiple of this many tokens: TensorFlow's graphs
    take any width; JAX, PyTorch and XLA compile a step function for each new shape
    (see :func:`compiles_each_shape`).
    """
    if value is not None:
        if value < 1:
            raise ValueError(f"width_multiple={value} must be at least 1.")
        return value
    return compiled if compiles_each_shape(jit_compile) else 1


def use_fixed_batch(value, jit_compile="auto"):
    """``value`` if given, else whether each batch shape compiles (:func:`compiles_each_shape`)."""
    return bool(value) if value is not None else compiles_each_shape(jit_compile)


def fill_batch(batch_size, weights=False):
    """A ``Dataset.map`` function that pads a smaller batch with all-padding rows up to ``batch_size``.

    The rows added hold zeros in every tensor (id 0 is padding; a masked
    translation model counts none of their tokens). ``weights=True`` adds a
    last element, ``(batch_size,)`` float32 sample weights: 1 for the real rows,
    0 for the added ones, for a model whose output the mask does not hide
    (a classifier, with a loss that divides by the weights' sum). The batch
    axis is then the same for every batch of an epoch: one compiled step for
    every batch of a width, the last ones included.
    """
    batch_size = int(batch_size)

    def fill(*batch):
        real = tf.shape(tf.nest.flatten(batch)[0])[0]

        def pad(tensor):
            padded = tf.pad(tensor, [[0, batch_size - real]] + [[0, 0]] * (tensor.shape.rank - 1))
            padded.set_shape([batch_size, *tensor.shape[1:]])
            return padded

        padded = tf.nest.map_structure(pad, batch)
        if weights:
            padded = (*padded, tf.cast(tf.range(batch_size) < real, tf.float32))
        return padded

    return fill


def longest(ids, width_multiple=1):
    """Columns of a batch of 0-padded ids ``(B, L)`` holding a real token in some row, rounded up
    to a multiple of ``width_multiple`` (never past ``L``; at least 1)."""
    real = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)), 1)
    return tf.minimum(-(-real // width_multiple) * width_multiple, tf.shape(ids)[1])


def batch_by_length(examples, batch_size, sequence_length, length, cut, bucket_width=2, first_boundary=None,
                    width_multiple=1):
    """Batch unbatched examples with others of about their length, then cut each batch to its longest.

    The one length batcher of both halves of the chapter: ``length(*example)`` is an
    example's number of real tokens, buckets are ``max(bucket_width, width_multiple)``
    tokens wide, and ``cut(*batch, width_multiple)`` drops the columns that are
    padding in every row (see :func:`longest`). Masked models give the same loss,
    accuracy and predictions as with full padding, at a fraction of the work.

    Example (IMDB)::

        batches = batch_by_length(examples, 32, 600, lambda ids, y: tf.math.count_nonzero(ids, dtype=tf.int32),
                                  lambda ids, y, m: (ids[:, : longest(ids, m)], y), bucket_width=32)
    """
    step = max(int(bucket_width), int(width_multiple))
    boundaries = list(range(first_boundary or step, int(sequence_length) + 1, step))
    batches = examples.bucket_by_sequence_length(
        length, bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1))
    return batches.map(lambda *batch: cut(*batch, width_multiple), num_parallel_calls=tf.data.AUTOTUNE)
