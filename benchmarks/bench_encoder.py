"""Encoder-classifier training throughput at the book's IMDB settings, side by side.

Compares, in one process and on the same batches, a classifier whose encoder
is (1) the book's layer as written for chapter 11 (kept here as the
reference), (2) keras-hub's `TransformerEncoder`, (3) this package's
`TransformerEncoder` with its default `key_dim=embed_dim // num_heads`, and
(4) this package's layer with the book's `key_dim=embed_dim`. Configurations
are timed round-robin (so background load hits them alike) and reported as
medians, with model-FLOP utilisation against a float32 matmul measured in
the same run.

    python benchmarks/bench_encoder.py                 # book settings
    python benchmarks/bench_encoder.py --rounds 5 --steps 8 --markdown out.md
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from keras_transformer import PositionalEmbedding, TransformerEncoder  # noqa: E402


class BookTransformerEncoder(layers.Layer):
    """The chapter's encoder as the book writes it (the reference, not for use).

    Attention with `key_dim=embed_dim`, a Dense-ReLU-Dense projection, two
    post-norm residual blocks with Keras's default layer-norm epsilon, and the
    padding mask applied to the keys.
    """

    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [layers.Dense(dense_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, mask=None):
        attention_mask = None if mask is None else ops.expand_dims(mask, 1)
        attended = self.attention(inputs, inputs, attention_mask=attention_mask)
        projected_input = self.layernorm_1(inputs + attended)
        return self.layernorm_2(projected_input + self.dense_proj(projected_input))


def make_encoder(kind, embed_dim, dense_dim, num_heads):
    if kind == "book":
        return BookTransformerEncoder(embed_dim, dense_dim, num_heads)
    if kind == "keras-hub":
        import keras_hub

        return keras_hub.layers.TransformerEncoder(intermediate_dim=dense_dim, num_heads=num_heads)
    if kind == "ours":
        return TransformerEncoder(embed_dim, dense_dim, num_heads)
    if kind == "ours key_dim=embed_dim":
        return TransformerEncoder(embed_dim, dense_dim, num_heads, key_dim=embed_dim)
    raise ValueError(kind)


KINDS = ["book", "keras-hub", "ours", "ours key_dim=embed_dim"]


def key_dim_of(kind, embed_dim, num_heads):
    return embed_dim if kind in ("book", "ours key_dim=embed_dim") else embed_dim // num_heads


def matmul_gflops_bf16(size=2048, repeats=10):
    return matmul_gflops(size, repeats, dtype="bfloat16")


def training_flops_per_sample(length, embed_dim, dense_dim, num_heads, key_dim):
    """Multiply-adds x2 of one encoder layer, forward x3 for forward+backward."""
    width = num_heads * key_dim
    projections = 2 * length * embed_dim * width * 4  # query, key, value, output
    attention = 2 * length * length * width * 2  # scores and weighted sum
    feed_forward = 2 * length * embed_dim * dense_dim * 2
    return 3 * (projections + attention + feed_forward)


def build_classifier(kind, args):
    inputs = keras.Input((args.sequence_length,), dtype="int32")
    x = PositionalEmbedding(args.sequence_length, args.vocab_size, args.embed_dim)(inputs)
    x = make_encoder(kind, args.embed_dim, args.dense_dim, args.num_heads)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _has_keras_hub():
    try:
        import keras_hub  # noqa: F401
    except Exception as error:  # e.g. a machine without TensorFlow
        print(f"keras-hub unavailable, its row is left out: {error}", file=sys.stderr)
        return False
    return True


def matmul_gflops(size=2048, repeats=10, dtype="float32"):
    a = keras.random.normal((size, size), dtype=dtype)
    b = keras.random.normal((size, size), dtype=dtype)
    ops.convert_to_numpy(ops.matmul(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.matmul(a, b))
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def _device():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return f"jax on {jax.devices()[0].device_kind}"
    return backend


def synthetic_batch(args, rng):
    # IMDB-like: real tokens then padding, lengths spread like reviews.
    lengths = rng.integers(args.sequence_length // 4, args.sequence_length + 1, size=args.batch_size)
    tokens = rng.integers(1, args.vocab_size, size=(args.batch_size, args.sequence_length))
    tokens[np.arange(args.sequence_length)[None, :] >= lengths[:, None]] = 0
    labels = rng.integers(0, 2, size=(args.batch_size, 1)).astype("float32")
    return tokens.astype("int32"), labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--sequence-length", type=int, default=600)
    parser.add_argument("--embed-dim", type=int, default=256)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--dense-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (the median is reported)")
    parser.add_argument(
        "--precisions",
        nargs="*",
        default=[],
        choices=["mixed_bfloat16", "mixed_float16"],
        help="also time this package's encoder under these dtype policies",
    )
    parser.add_argument("--only", nargs="*", default=None, help="time only these encoders (names as in the table)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    batches = [synthetic_batch(args, rng) for _ in range(args.steps)]
    kinds = [k for k in KINDS if k != "keras-hub" or _has_keras_hub()]
    if args.only:
        kinds = [k for k in kinds if k in args.only]
    models = {kind: build_classifier(kind, args) for kind in kinds}
    for policy in args.precisions:
        keras.mixed_precision.set_global_policy(policy)
        models[f"ours {policy}"] = build_classifier("ours", args)
        keras.mixed_precision.set_global_policy("float32")
    kinds = list(models)
    for kind, model in models.items():  # compile and warm up
        for x, y in batches[:2]:
            model.train_on_batch(x, y)
        print(f"warmed up: {kind}", file=sys.stderr)

    peak = matmul_gflops()
    rates = {kind: [] for kind in kinds}
    for round_index in range(args.rounds):
        for kind, model in models.items():
            start = time.perf_counter()
            for x, y in batches:
                model.train_on_batch(x, y)
            rates[kind].append(args.steps * args.batch_size / (time.perf_counter() - start))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    peak_after = matmul_gflops()
    peak_bf16 = matmul_gflops_bf16()

    reference = kinds[0]
    book = statistics.median(rates[reference])
    lines = [
        f"Encoder classifier training, vocab {args.vocab_size}, length {args.sequence_length}, "
        f"embed {args.embed_dim}, {args.num_heads} heads, dense {args.dense_dim}, batch {args.batch_size}; "
        f"backend {_device()}, {platform.machine()} with {os.cpu_count()} cores, {date.today()}; "
        f"float32 matmul {peak:.0f} GFLOP/s before and {peak_after:.0f} after the rounds "
        f"(bfloat16 {peak_bf16:.0f}); "
        f"median of {args.rounds} rounds of {args.steps} steps.",
        "",
        f"| encoder | key_dim | samples/s (median) | min-max | vs {reference} | model GFLOP/s | MFU vs float32 matmul |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in kinds:
        median = statistics.median(rates[kind])
        key_dim = key_dim_of(kind, args.embed_dim, args.num_heads)
        flops = training_flops_per_sample(
            args.sequence_length, args.embed_dim, args.dense_dim, args.num_heads, key_dim
        )
        achieved = median * flops / 1e9
        lines.append(
            f"| {kind} | {key_dim} | {median:.1f} | {min(rates[kind]):.1f}-{max(rates[kind]):.1f} "
            f"| {median / book:.2f}x | {achieved:.0f} | {achieved / peak:.0%} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
