"""One training step of each chapter model on each Keras backend and precision, side by side.

Where a JAX epoch's time goes against TensorFlow's: each configuration
(backend x precision) runs in its own process (a backend is chosen before Keras
is imported), builds the chapter's model as the time-to-accuracy recipes do,
and times ``train_on_batch`` on batches of one fixed shape (so compiling is
counted apart: the first step's time is reported as ``first_step_s``). The
configurations run in turn, ``--passes`` times, and a row is the median over
the passes of each pass's median step. Also: a 2048 x 2048 matrix product in
the same precision, in the same process.

    python benchmarks/bench_backends.py imdb
    python benchmarks/bench_backends.py translation --passes 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

CONFIGS = [("tensorflow", "float32"), ("tensorflow", "mixed_bfloat16"), ("jax", "float32"), ("jax", "mixed_bfloat16")]
SHAPES = {"imdb": "32 reviews x 256 tokens", "translation": "64 pairs x 12 tokens each side"}


def one(task, steps):
    """In a child process: the median seconds of a training step, and the first step's."""
    import time

    import numpy as np
    import keras

    from keras_transformer.training.clock import matmul_flops_per_second

    rng = np.random.default_rng(0)
    if task == "imdb":
        from keras_transformer.classification import build_classifier

        model = build_classifier("transformer-positional", embed_dim=128, dense_dim=128, pooling="attention",
                                 encoder_dropout=0.1, optimizer="adam", learning_rate=1e-3)
        x = rng.integers(2, 20000, size=(32, 256))
        y = rng.integers(0, 2, size=(32, 1)).astype("float32")
    else:
        from keras_transformer.translation.models import build_translation_model, compile_translation_model
        from keras_transformer.training.optimizers import make_optimizer

        model = build_translation_model("transformer", key_dim=32, compile=False)
        compile_translation_model(model, make_optimizer("adam", 2e-3))
        x = {"english": rng.integers(2, 15000, size=(64, 12)), "spanish": rng.integers(2, 15000, size=(64, 12))}
        y = rng.integers(2, 15000, size=(64, 12))
    begin = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - begin
    for _ in range(2):
        model.train_on_batch(x, y)
    seconds = []
    for _ in range(steps):
        begin = time.perf_counter()
        model.train_on_batch(x, y)
        seconds.append(time.perf_counter() - begin)
    dtype = "bfloat16" if "bfloat16" in keras.mixed_precision.global_policy().name else "float32"
    return {"step_s": statistics.median(seconds), "first_step_s": first,
            "matmul_gflops": matmul_flops_per_second(2048, dtype, repeats=5) / 1e9}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=sorted(SHAPES))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per pass")
    parser.add_argument("--passes", type=int, default=2, help="times each configuration runs, in turn")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import keras

        keras.mixed_precision.set_global_policy(args.child[1])
        print("RESULT " + json.dumps(one(args.task, args.steps)), flush=True)
        return None
    runs = {config: [] for config in CONFIGS}
    for p in range(args.passes):
        for backend, precision in CONFIGS:
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run([sys.executable, __file__, args.task, "--steps", str(args.steps),
                                   "--child", backend, precision], capture_output=True, text=True, env=env)
            line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
            if done.returncode or not line:
                raise SystemExit(f"{backend} {precision} failed:\n{done.stderr[-2000:]}")
            runs[(backend, precision)].append(json.loads(line[0][7:]))
            print(f"pass {p + 1}: {backend} {precision} {runs[(backend, precision)][-1]}", file=sys.stderr)
    reference = statistics.median(r["step_s"] for r in runs[("tensorflow", "mixed_bfloat16")])
    print(f"\n{args.task}, one training step on {SHAPES[args.task]}, median of {args.passes} passes of "
          f"{args.steps} steps\n\n| backend | precision | ms / step | vs TensorFlow bfloat16 | first step (compile) s "
          f"| 2048 matmul GFLOP/s |\n|---|---|---|---|---|---|")
    rows = []
    for (backend, precision), results in runs.items():
        step = statistics.median(r["step_s"] for r in results)
        row = {"backend": backend, "precision": precision, "step_ms": 1000 * step,
               "first_step_s": statistics.median(r["first_step_s"] for r in results),
               "matmul_gflops": statistics.median(r["matmul_gflops"] for r in results)}
        rows.append(row)
        print(f"| {backend} | {precision} | {row['step_ms']:.0f} | {step / reference:.2f}x | {row['first_step_s']:.1f} "
              f"| {row['matmul_gflops']:.0f} |")
    return rows


if __name__ == "__main__":
    main()
