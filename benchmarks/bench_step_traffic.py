"""Why one sentence decodes no faster: a step's weights against the CPU's caches and memory.

Decoding one sentence, every step multiplies one row by every weight matrix
of the decoder layer and by the output layer's kernel, so a step reads all of
them; with one row there is almost no arithmetic per byte. This script
measures, on the machine it runs on:

1. the memory read rate (NumPy sums of a 256 MiB float32 array, from one
   thread and from two), which bounds a step whose weights come from memory;
2. a compiled loop of one-row steps (TensorFlow with XLA, or JAX): each step
   takes a row of an embedding, multiplies it by a 256 x 15,000 kernel (the
   chapter's output layer, 15.4 MB in float32) and takes the argmax; then the
   same loop with only a 256 -> 6,144 -> 256 pair of products (12.6 MB, a
   stand-in for the decoder layer's weights, twice the 6.3 MB of the
   chapter's, so that the overflow is plain); then both in one step. If the two fit the caches together, "both" costs about the sum
   of the parts; if not, every step reads its weights from memory;
3. six 256 x 256 head projections of one row (a decoding step's attention
   layers), written as the Keras `EinsumDense` layers compute them (3-D
   kernels, `abc,cde->abde`) and as plain products with 2-D matrices (what
   the decoder's steps use, `head_projections`);
4. the output layer's product with its kernel in bfloat16 (7.7 MB) and in
   int8 (3.9 MB; the row rounded to int8 in the step), alone and after the
   pair: what a step would cost if low-precision weights were read at their
   size.

    python benchmarks/bench_step_traffic.py
    KERAS_BACKEND=jax python benchmarks/bench_step_traffic.py
"""

import argparse
import os
import statistics
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

VOCAB, WIDTH, HIDDEN = 15000, 256, 6144


def read_rate(threads, repeats=7):
    """GB/s summing a 256 MiB float32 array, split between `threads` threads."""
    array = np.ones(256 * 2**20 // 4, np.float32)
    parts = np.array_split(array, threads)
    times = []
    for _ in range(repeats):
        workers = [threading.Thread(target=part.sum) for part in parts]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        times.append(time.perf_counter() - start)
    return array.nbytes / statistics.median(times) / 1e9


def weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "embedding": rng.standard_normal((VOCAB, WIDTH)).astype("float32"),
        "kernel": (rng.standard_normal((WIDTH, VOCAB)) * 0.05).astype("float32"),
        "up": (rng.standard_normal((WIDTH, HIDDEN)) * 0.05).astype("float32"),
        "down": (rng.standard_normal((HIDDEN, WIDTH)) * 0.05).astype("float32"),
        # Six separate kernels each way (slices of one stacked array would fuse into the products).
        **{f"heads{i}": (rng.standard_normal((WIDTH, 8, WIDTH // 8)) * 0.05).astype("float32") for i in range(6)},
        **{f"matrix{i}": (rng.standard_normal((WIDTH, WIDTH)) * 0.05).astype("float32") for i in range(6)},
    }


def int8_kernel(kernel):
    """The kernel rounded to int8 with one scale (timing only: the same bytes an int8 model reads)."""
    return np.clip(np.round(kernel / (np.abs(kernel).max() / 127)), -127, 127).astype("int8")


def step_bodies(np_like, low_precision):
    """The steps: `(params, x) -> scores`, written with `np_like` (tf or jnp).

    `low_precision[dtype](x, kernel)`: the backend's product of a float32 row
    and a `dtype` kernel ("bfloat16", "int8"), float32 out.
    """

    def output(p, x):
        return np_like.matmul(x, p["kernel"])

    def output_in(dtype):
        return lambda p, x: low_precision[dtype](x, p[f"kernel_{dtype}"])

    def decoder_like(p, x):
        return np_like.matmul(np_like.maximum(np_like.matmul(x, p["up"]), 0.0), p["down"])

    def both(p, x):
        return output(p, x + 1e-3 * decoder_like(p, x))

    def both_in(dtype):
        return lambda p, x: output_in(dtype)(p, x + 1e-3 * decoder_like(p, x))

    def einsum_projections(p, x):
        for i in range(6):
            x = np_like.reshape(np_like.einsum("abc,cde->abde", np_like.reshape(x, (1, 1, WIDTH)), p[f"heads{i}"]), (1, WIDTH))
        return x

    def matrix_projections(p, x):
        for i in range(6):
            x = np_like.matmul(x, p[f"matrix{i}"])
        return x

    return {
        "output layer (15.4 MB)": output,
        "decoder-like pair (12.6 MB)": decoder_like,
        "both": both,
        "output layer, bfloat16 kernel (7.7 MB)": output_in("bfloat16"),
        "output layer, int8 kernel (3.9 MB)": output_in("int8"),
        "both, output kernel in bfloat16": both_in("bfloat16"),
        "both, output kernel in int8": both_in("int8"),
        "six projections, 3-D kernels (einsum)": einsum_projections,
        "six projections, 2-D matrices": matrix_projections,
    }


def tensorflow_loops(params, steps):
    import tensorflow as tf

    p = {k: tf.constant(v) for k, v in params.items()}
    p["kernel_bfloat16"] = tf.cast(p["kernel"], tf.bfloat16)
    p["kernel_int8"] = tf.constant(int8_kernel(params["kernel"]))

    def int8_row(x):  # the row rounded to int8 with one scale, in the step
        scaled = tf.round(x * (127.0 / (tf.reduce_max(tf.abs(x)) + 1e-6)))
        return tf.cast(tf.clip_by_value(scaled, -127.0, 127.0), tf.int8)

    low_precision = {
        "bfloat16": lambda x, k: tf.cast(tf.matmul(tf.cast(x, tf.bfloat16), k), tf.float32),
        "int8": lambda x, k: tf.cast(tf.matmul(int8_row(x), k, output_type=tf.int32), tf.float32),
    }
    loops = {}
    for name, body in step_bodies(tf.experimental.numpy, low_precision).items():

        def loop(p, body=body):
            def step(i, token):
                x = tf.gather(p["embedding"], token)
                return i + 1, tf.argmax(body(p, x), axis=-1, output_type=tf.int32)

            return tf.while_loop(lambda i, t: i < steps, step, (tf.constant(0), tf.constant([5])))[1]

        compiled = tf.function(loop, jit_compile=True)
        loops[name] = lambda compiled=compiled: compiled(p).numpy()
    return loops


def jax_loops(params, steps):
    import jax
    import jax.numpy as jnp

    p = {k: jnp.asarray(v) for k, v in params.items()}
    p["kernel_bfloat16"] = p["kernel"].astype(jnp.bfloat16)
    p["kernel_int8"] = jnp.asarray(int8_kernel(params["kernel"]))

    def int8_row(x):  # the row rounded to int8 with one scale, in the step
        scaled = jnp.round(x * (127.0 / (jnp.max(jnp.abs(x)) + 1e-6)))
        return jnp.clip(scaled, -127, 127).astype(jnp.int8)

    low_precision = {
        "bfloat16": lambda x, k: jax.lax.dot(x.astype(jnp.bfloat16), k, preferred_element_type=jnp.float32),
        "int8": lambda x, k: jax.lax.dot(int8_row(x), k, preferred_element_type=jnp.int32).astype(jnp.float32),
    }
    loops = {}
    for name, body in step_bodies(jnp, low_precision).items():

        @jax.jit
        def loop(p, body=body):
            def step(carry):
                i, token = carry
                x = p["embedding"][token]
                return i + 1, jnp.argmax(body(p, x), axis=-1).astype(jnp.int32)

            return jax.lax.while_loop(lambda c: c[0] < steps, step, (0, jnp.array([5], jnp.int32)))[1]

        loops[name] = lambda loop=loop: loop(p).block_until_ready()
    return loops


def per_step_ms(run, steps, calls=20, repeats=7):
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        times.append((time.perf_counter() - start) / calls / steps * 1e3)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="one-row steps per compiled loop")
    args = parser.parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"memory read rate: {read_rate(1):.1f} GB/s from one thread, {read_rate(2):.1f} GB/s from two")
    params = weights()
    loops = (jax_loops if backend == "jax" else tensorflow_loops)(params, args.steps)
    print(f"\n| one-row step ({backend}, XLA) | ms per step |")
    print("| --- | ---: |")
    for name, run in loops.items():
        print(f"| {name} | {per_step_ms(run, args.steps):.3f} |")


if __name__ == "__main__":
    main()
