"""Train the tiny translation task under one distribution mode; save loss and weights.

Run by tests/test_distribute.py in fresh processes (logical devices and
TF_CONFIG must be set before TensorFlow starts):

    python tests/distributed_worker.py single|mirrored|multi-worker OUT.npz
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

mode, out = sys.argv[1], sys.argv[2]
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

import keras  # noqa: E402

from keras_transformer.training.distribute import fit, global_batch_size, make_strategy, strategy_scope  # noqa: E402
from keras_transformer.translation.models import build_transformer  # noqa: E402

VOCAB, LENGTH, STEPS, GLOBAL_BATCH = 16, 8, 12, 32


def copy_task(n, seed=0):
    rng = np.random.default_rng(seed)
    source = np.zeros((n, LENGTH), "int64")
    target = np.zeros((n, LENGTH + 1), "int64")
    for i in range(n):
        # Every target has the same length (no target padding): Keras's masked
        # loss divides by each replica's own count of real tokens, so with
        # uneven padding two replicas' mean differs from the global mean.
        length = 6
        words = rng.integers(4, VOCAB, size=length)
        source[i, :length] = words
        target[i, 0], target[i, 1 : length + 1], target[i, length + 1] = 2, words, 3
    return {"english": source, "spanish": target[:, :-1]}, target[:, 1:]


if mode == "mirrored":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    strategy = make_strategy("default" if mode == "single" else "multi-worker")
per_replica = GLOBAL_BATCH // strategy.num_replicas_in_sync
assert global_batch_size(per_replica, strategy) == GLOBAL_BATCH

keras.utils.set_random_seed(0)
with strategy_scope(strategy):
    model = build_transformer(VOCAB, VOCAB, LENGTH, embed_dim=16, dense_dim=32, num_heads=2, dropout=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
inputs, targets = copy_task(GLOBAL_BATCH * STEPS)
dataset = tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(GLOBAL_BATCH)
if mode == "multi-worker":
    # Every worker reads the whole global batch; the strategy splits it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
history = fit(model, dataset, strategy, epochs=2, verbose=0)
np.savez(
    out,
    replicas=strategy.num_replicas_in_sync,
    loss=np.array(history.history["loss"]),
    **{f"w{i}": w for i, w in enumerate(model.get_weights())},
)
print("done", mode, strategy.num_replicas_in_sync, history.history["loss"])
