"""Time the translation model's output layer alone: rows x 256 by 256 x 15,000, then argmax.

One decoding step of one sentence multiplies a single row by the output
kernel (a matrix-vector product that reads the whole 15.4 MB float32
kernel); a batch multiplies many rows at once. This prints milliseconds and
GFLOP/s for each row count, dtype and compiler (with and without XLA), to
show what bounds one-sentence decoding on a machine.

    python benchmarks/bench_output_layer.py --rows 1 64 256 --repeats 300
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 64, 256], help="rows (sentences) per product")
    parser.add_argument("--embed-dim", type=int, default=256, help="features per row (default 256)")
    parser.add_argument("--vocab", type=int, default=15000, help="output units (default 15000)")
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per case (mean reported)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    print(f"| dtype | rows | XLA | ms per product + argmax | GFLOP/s |\n| --- | ---: | --- | ---: | ---: |")
    for dtype in (tf.float32, tf.bfloat16):
        kernel = tf.cast(tf.random.uniform((args.embed_dim, args.vocab)), dtype)
        for rows in args.rows:
            x = tf.cast(tf.random.uniform((rows, args.embed_dim)), dtype)
            for jit in (False, True):
                product = tf.function(lambda x, w: tf.argmax(tf.matmul(x, w), -1), jit_compile=jit)
                product(x, kernel)
                product(x, kernel)
                start = time.perf_counter()
                for _ in range(args.repeats):
                    out = product(x, kernel)
                out.numpy()
                ms = (time.perf_counter() - start) / args.repeats * 1e3
                gflops = 2 * rows * args.embed_dim * args.vocab / ms / 1e6
                print(f"| {dtype.name} | {rows} | {'yes' if jit else 'no'} | {ms:.3f} | {gflops:.1f} |")


if __name__ == "__main__":
    main()
