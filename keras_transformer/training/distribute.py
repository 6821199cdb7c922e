"""Running the same chapter code on one CPU, several GPUs, several hosts or a TPU.

Nothing here is home-made: on TensorFlow these are `tf.distribute` strategies,
on JAX `keras.distribution.DataParallel`. The chapter scripts call
`make_strategy(args.strategy)`, build and compile the model inside
`strategy_scope(strategy)`, and scale the batch with `global_batch_size`.

    strategy = make_strategy("mirrored")          # all local GPUs (or CPUs)
    with strategy_scope(strategy):
        model = build_translation_model("transformer")
        model.compile(...)
"""

import contextlib
import json
import os

import keras

STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def jit_compile_setting(choice):
    """The `jit_compile=` value for `model.compile` from the --jit-compile choice."""
    return {"auto": "auto", "on": True, "off": False}[choice]


def set_precision(policy):
    """Set the global dtype policy (before building the model).

    With `mixed_float16`, Keras's `Model.compile` wraps the optimizer in a
    `LossScaleOptimizer`, so gradients of small losses do not underflow.
    """
    if policy not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {policy!r}.")
    keras.mixed_precision.set_global_policy(policy)


class _NoStrategy:
    """Stands in for a strategy where there is none (one device, or JAX)."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def make_strategy(name="default", tpu=None):
    """The distribution engine named `name`, for the current backend.

    TensorFlow: `default` is the current (one-device) strategy; `mirrored` a
    `MirroredStrategy` over all local GPUs (or CPUs); `multi-worker` a
    `MultiWorkerMirroredStrategy` configured from `TF_CONFIG`; `tpu` a
    `TPUStrategy` from a `TPUClusterResolver`.
    JAX: `mirrored` and `multi-worker` install `keras.distribution.DataParallel`
    over all devices (multi-host JAX is initialised by `jax.distributed`).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {name!r}.")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        if name == "tpu" or (name != "default" and backend != "jax"):
            raise ValueError(f"--strategy {name} needs the TensorFlow or JAX backend; this is {backend}.")
        if name != "default":
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        return _NoStrategy()
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi-worker needs TF_CONFIG naming the cluster and this task.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def strategy_scope(strategy):
    """`strategy.scope()`, or a no-op context where there is no strategy."""
    return strategy.scope()


def global_batch_size(per_replica_batch_size, strategy):
    """The batch size `fit` sees: per-replica size times replicas in sync."""
    return per_replica_batch_size * strategy.num_replicas_in_sync


def is_chief():
    """True unless TF_CONFIG names this task as a non-chief worker.

    Only the chief writes checkpoints, results and saved models; other
    workers write theirs to a scratch folder.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    cluster = config.get("cluster", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


def worker_output_dir(output_dir):
    """`output_dir` for the chief, a per-worker scratch folder for the others."""
    if is_chief():
        return output_dir
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    return os.path.join(str(output_dir), f".worker-{task['type']}-{task['index']}")


def fit(model, data, strategy=None, **kwargs):
    """`model.fit(data, **kwargs)` that also works under multi-worker training.

    Keras 3's TensorFlow trainer trips twice under
    `MultiWorkerMirroredStrategy`: (1) before the first step it reduces the
    first distributed batch across workers to build metrics, which fails for
    nested batches ("Attempt to convert a value (PerReplica...)"); (2) after
    each step it all-reduces the logged scalars with `axis=0`, which fails on
    0-d values. Here the trainer takes the strategy from the surrounding scope
    (the model's variables already live in it), which skips (1), and the
    train step returns its logs as 1-element vectors, so (2) averages them
    across workers. The weights are all-reduced by the strategy as usual.
    """
    if not _is_multi_worker(strategy):
        return model.fit(data, **kwargs)
    saved = model._distribute_strategy
    model._distribute_strategy = None
    train_step = model.train_step

    def train_step_with_vector_logs(batch):
        return keras.tree.map_structure(lambda v: keras.ops.reshape(v, (1,)), train_step(batch))

    model.train_step = train_step_with_vector_logs
    try:
        with strategy.scope():
            return model.fit(data, **kwargs)
    finally:
        model._distribute_strategy = saved
        del model.train_step


def _is_multi_worker(strategy):
    if strategy is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
