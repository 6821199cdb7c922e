"""The cost of self-attention against sequence length, beside a GRU's.

The chapter says self-attention is computed in parallel and that its time
"stays constant regardless of sentence length". It is parallel over positions
(no step-by-step recurrence), but its work and memory grow with the square of
the length. This benchmark times one `TransformerEncoder` layer and one
`keras.layers.GRU` of the same width, forward pass and training step (forward,
backward and an Adam update), at a fixed batch and lengths from 16 to 1024, as
medians of timed repeats after warm-up. Each is compiled twice, as a
`tf.function` graph and as a `tf.function` with `jit_compile=True` (XLA), and
the faster is reported (both are kept in the JSON): on a CPU neither wins
everywhere, and XLA's compiled loop makes the GRU's training step grow faster
than linearly with the length. The configurations are timed in turn, round
after round, so that background load falls on all alike.

Beside each time it gives analytic FLOPs (`encoder_flops`, `gru_flops`: the
matrix products, a multiply-add counting 2; a training step counted as 3x the
forward pass) and analytic memory (`encoder_memory`, `gru_memory`: float32
bytes of the attention weight tensor and of the activations a backward pass
keeps). Memory is computed, not measured: TensorFlow's CPU allocator reports
no peak (`tf.config.experimental.get_memory_info` is for GPUs) and `tracemalloc`
sees only Python's allocations, not TensorFlow's.

    python benchmarks/bench_attention_cost.py --tiny            # seconds, a smoke run
    python benchmarks/bench_attention_cost.py --json docs/figures/attention_cost.json \\
        --plot docs/figures/attention_cost.png
"""

import argparse
import io
import os
import platform
import statistics
import sys
import textwrap
import time
from datetime import datetime, timezone

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LENGTHS = [16, 32, 64, 128, 256, 512, 1024]
TINY = dict(lengths=[8, 32], batch_size=2, embed_dim=16, num_heads=2, dense_dim=32, repeats=2, min_repeats=1)
LAYERS = ("encoder", "gru")
MODES = ("forward", "train")
COMPILES = ("graph", "xla")  # tf.function, and tf.function(jit_compile=True)
COMPILE_NAMES = {"graph": "tf.function", "xla": "tf.function(jit_compile=True)"}
FLOAT_BYTES = 4
MIB = 2**20


# ---------------------------------------------------------------- analytic cost


def encoder_flops(batch, length, embed_dim, num_heads, dense_dim, key_dim=None):
    """Forward FLOPs of one TransformerEncoder layer, by term (matrix products only).

    With B the batch, T the length, D = embed_dim, F = dense_dim and
    W = num_heads * key_dim (= D by default), a product (m x k)(k x n) costs
    2*m*k*n FLOPs:

    - projections: query, key, value (D -> W) and output (W -> D),
      4 * 2*B*T*D*W = 8*B*T*D^2 when W = D;
    - scores Q.K^T, per head (T x k)(k x T): 2*B*T^2*W over the heads, and the
      weighted sum weights.V as much: 4*B*T^2*W, the only term in T^2;
    - feed-forward D -> F -> D: 2 * 2*B*T*D*F = 4*B*T*D*F.

    Left out, being O(B*T*D) or O(B*heads*T^2) with a small constant: the
    softmax, scaling, biases, residual sums and layer normalizations.
    """
    key_dim = embed_dim // num_heads if key_dim is None else key_dim
    width = num_heads * key_dim
    terms = {
        "projections": 8 * batch * length * embed_dim * width,
        "scores_and_weighted_sum": 4 * batch * length**2 * width,
        "feed_forward": 4 * batch * length * embed_dim * dense_dim,
    }
    terms["total"] = sum(terms.values())
    return terms


def gru_flops(batch, length, input_dim, units):
    """Forward FLOPs of a GRU over the whole sequence (matrix products only).

    At each of the T steps, for each of the B sequences, the three gates
    (update, reset, candidate) project the input (input_dim -> 3*units) and
    the previous state (units -> 3*units): 2*input_dim*3*units +
    2*units*3*units = 6*units*(input_dim + units) FLOPs, so
    6*B*T*units*(input_dim + units) in all: linear in T. Left out: the
    sigmoids, tanh and gate products, O(B*T*units).
    """
    terms = {
        "input_projection": 6 * batch * length * input_dim * units,
        "recurrent_projection": 6 * batch * length * units * units,
    }
    terms["total"] = sum(terms.values())
    return terms


def training_flops(forward_flops):
    """A training step as 3x the forward pass: the backward pass computes, for
    each product, the gradient of its input and of its weights (2 products of
    the same size). The optimizer update, O(parameters), is left out."""
    return 3 * forward_flops


def encoder_memory(batch, length, embed_dim, num_heads, dense_dim, key_dim=None):
    """Float32 bytes: the attention weights and the activations a backward pass keeps.

    - attention weights: B * heads * T^2 floats (one T x T matrix per sequence
      and head). The scores before the softmax are as large, so unfused
      attention holds 2 of these at once at its peak;
    - activations kept for backward (an estimate, per position): the input
      (D), the query, key, value and attention context (4*W), the attention
      output and its normalized sum (2*D), the feed-forward hidden layer (F)
      and its output (D), plus the attention weights:
      B*T*(4*D + 4*W + F) + B*heads*T^2 floats.
    """
    key_dim = embed_dim // num_heads if key_dim is None else key_dim
    width = num_heads * key_dim
    weights = batch * num_heads * length**2
    per_position = 4 * embed_dim + 4 * width + dense_dim
    return {
        "attention_weights_bytes": FLOAT_BYTES * weights,
        "activations_bytes": FLOAT_BYTES * (batch * length * per_position + weights),
    }


def gru_memory(batch, length, input_dim, units):
    """Float32 bytes a GRU keeps for backward (an estimate): at each step the
    input (input_dim), the previous state (units), the input and recurrent
    projections (3*units each) and the gates and candidate (3*units):
    B*T*(input_dim + 10*units) floats. Its largest single tensor per step is
    B*units: nothing grows with T^2."""
    return {
        "attention_weights_bytes": 0,
        "activations_bytes": FLOAT_BYTES * batch * length * (input_dim + 10 * units),
    }


def analytic_cost(layer, batch, length, embed_dim, num_heads, dense_dim):
    """FLOPs (forward and training step) and memory of one configuration."""
    if layer == "encoder":
        terms = encoder_flops(batch, length, embed_dim, num_heads, dense_dim)
        quadratic = terms["scores_and_weighted_sum"]
        memory = encoder_memory(batch, length, embed_dim, num_heads, dense_dim)
    elif layer == "gru":
        terms, quadratic = gru_flops(batch, length, embed_dim, embed_dim), 0
        memory = gru_memory(batch, length, embed_dim, embed_dim)
    else:
        raise ValueError(layer)
    flops = terms["total"]
    return {"forward_flops": flops, "forward_flops_in_t2": quadratic, "train_flops": training_flops(flops), **memory}


# ---------------------------------------------------------------- timing


def make_layer(layer, embed_dim, num_heads, dense_dim):
    import keras

    from keras_transformer import TransformerEncoder

    if layer == "encoder":
        return TransformerEncoder(embed_dim=embed_dim, dense_dim=dense_dim, num_heads=num_heads)
    if layer == "gru":
        return keras.layers.GRU(embed_dim, return_sequences=True)
    raise ValueError(layer)


def compiled_steps(layer, optimizer, jit_compile):
    """A forward pass and a training step of `layer`, each a tf.function (with XLA if `jit_compile`)."""
    import tensorflow as tf
    from keras import ops

    def forward(x):
        return ops.mean(layer(x, training=False))

    def train(x, y):
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(layer(x, training=True) - y))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        return loss

    return {
        "forward": tf.function(forward, jit_compile=jit_compile),
        "train": tf.function(train, jit_compile=jit_compile),
    }


def _run(fn, inputs):
    return float(np.asarray(fn(*inputs)))  # a scalar back: the call has finished


def run_benchmark(
    lengths=LENGTHS,
    batch_size=8,
    embed_dim=256,
    num_heads=4,
    dense_dim=1024,
    repeats=7,
    min_repeats=5,
    budget_s=2.0,
    warmup=2,
    compiles=COMPILES,
    seed=0,
    log=None,
):
    """Times both layers at every length; returns one row per (layer, length).

    Each row has, for "forward" and "train", the faster median over `compiles`
    (`forward_ms`, and which: `forward_compile`), every median
    (`forward_ms_by_compile`) and every timed call (`forward_ms_all`).

    Every configuration is compiled and warmed up first, then timed round
    after round, in turn; a configuration stops after `min_repeats` rounds
    once its timed calls have taken `budget_s` seconds, else after `repeats`.
    """
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one tf.function per shape is meant: no retracing warnings
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise SystemExit(f"this benchmark compiles with tf.function; run it with KERAS_BACKEND=tensorflow, not {backend}")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    log = log or (lambda message: None)

    configs = []
    for layer_name in LAYERS:
        layer = make_layer(layer_name, embed_dim, num_heads, dense_dim)
        layer.build((batch_size, None, embed_dim))
        optimizer = keras.optimizers.Adam(1e-4)
        optimizer.build(layer.trainable_variables)
        for length in lengths:
            x = rng.normal(size=(batch_size, length, embed_dim)).astype("float32")
            y = rng.normal(size=(batch_size, length, embed_dim)).astype("float32")
            for compile_name in compiles:
                steps = compiled_steps(layer, optimizer, jit_compile=compile_name == "xla")  # new ones per length
                for mode in MODES:
                    inputs = (x,) if mode == "forward" else (x, y)
                    start = time.perf_counter()
                    for _ in range(warmup):
                        _run(steps[mode], inputs)
                    log(f"compiled and warmed up: {layer_name} {mode} {compile_name} T={length} "
                        f"({time.perf_counter() - start:.1f} s)")
                    configs.append(dict(layer=layer_name, length=length, mode=mode, compile=compile_name,
                                        fn=steps[mode], inputs=inputs, times=[]))

    for round_index in range(repeats):
        for config in configs:
            spent = sum(config["times"])
            if len(config["times"]) >= min_repeats and spent >= budget_s:
                continue
            start = time.perf_counter()
            _run(config["fn"], config["inputs"])
            config["times"].append(time.perf_counter() - start)
        log(f"round {round_index + 1}/{repeats} done")

    rows = []
    for layer_name in LAYERS:
        for length in lengths:
            row = {"layer": layer_name, "length": length}
            for mode in MODES:
                times_ms = {
                    c["compile"]: [1000 * t for t in c["times"]]
                    for c in configs
                    if (c["layer"], c["length"], c["mode"]) == (layer_name, length, mode)
                }
                medians = {name: statistics.median(times) for name, times in times_ms.items()}
                fastest = min(medians, key=medians.get)
                row[f"{mode}_ms"] = medians[fastest]
                row[f"{mode}_compile"] = fastest
                row[f"{mode}_ms_by_compile"] = medians
                row[f"{mode}_ms_all"] = times_ms
            row.update(analytic_cost(layer_name, batch_size, length, embed_dim, num_heads, dense_dim))
            rows.append(row)
    return rows


# ---------------------------------------------------------------- reporting


def machine():
    """The CPU model and core count (from /proc/cpuinfo where there is one)."""
    model, logical = platform.processor() or platform.machine(), os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model, logical = (names[0] if names else model), (len(names) or logical)
    except OSError:
        pass
    info = {"cpu": model, "logical_cores": logical, "os": platform.system(), "arch": platform.machine()}
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15_min"] = [round(v, 2) for v in os.getloadavg()]
    return info


def _row(rows, layer, length):
    return next(r for r in rows if r["layer"] == layer and r["length"] == length)


def _fmt(value):
    """Three significant figures, without exponents for the numbers of this table."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 0.01 or value == 0:
        return f"{value:.3g}"
    return f"{value:.2e}"


def markdown_table(rows):
    """One line per length: both layers' times (g: graph, x: XLA, the faster), FLOPs and memory."""
    lengths = sorted({r["length"] for r in rows})
    lines = [
        "| T | encoder fwd ms | GRU fwd ms | encoder train ms | GRU train ms "
        "| encoder fwd GFLOP | GRU fwd GFLOP | attention weights MiB | encoder act. MiB | GRU act. MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for length in lengths:
        enc, gru = _row(rows, "encoder", length), _row(rows, "gru", length)
        times = [
            f"{_fmt(row[f'{mode}_ms'])} {row[f'{mode}_compile'][0]}"
            for mode, row in (("forward", enc), ("forward", gru), ("train", enc), ("train", gru))
        ]
        cells = [
            enc["forward_flops"] / 1e9, gru["forward_flops"] / 1e9,
            enc["attention_weights_bytes"] / MIB, enc["activations_bytes"] / MIB, gru["activations_bytes"] / MIB,
        ]
        lines.append(f"| {length} | " + " | ".join(times + [_fmt(v) for v in cells]) + " |")
    return "\n".join(lines)


def plot(rows, path, title):
    """Three log-log panels: measured time, analytic FLOPs, analytic memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted({r["length"] for r in rows})
    series = {layer: [_row(rows, layer, t) for t in lengths] for layer in LAYERS}
    labels = {"encoder": "TransformerEncoder", "gru": "GRU"}
    colors = {"encoder": "tab:blue", "gru": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for layer, layer_rows in series.items():
        for mode, style in (("forward", "--"), ("train", "-")):
            axes[0].plot(lengths, [r[f"{mode}_ms"] for r in layer_rows], style, marker="o", ms=3,
                         color=colors[layer], label=f"{labels[layer]} {mode}")
        axes[1].plot(lengths, [r["forward_flops"] / 1e9 for r in layer_rows], marker="o", ms=3,
                     color=colors[layer], label=labels[layer])
        axes[2].plot(lengths, [r["activations_bytes"] / MIB for r in layer_rows], marker="o", ms=3,
                     color=colors[layer], label=f"{labels[layer]} activations")
    gru_xla = [r["train_ms_by_compile"].get("xla") for r in series["gru"]]
    if all(gru_xla) and any(r["train_compile"] != "xla" for r in series["gru"]):
        axes[0].plot(lengths, gru_xla, "-", lw=0.8, alpha=0.5, marker="x", ms=3, color=colors["gru"],
                     label="GRU train, XLA only")
    axes[1].plot(lengths, [r["forward_flops_in_t2"] / 1e9 for r in series["encoder"]], ":", marker="o", ms=3,
                 color=colors["encoder"], label="its T\u00b2 term alone (scores, weighted sum)")
    axes[2].plot(lengths, [r["attention_weights_bytes"] / MIB for r in series["encoder"]], ":", marker="o", ms=3,
                 color=colors["encoder"], label="attention weights alone (T\u00b2)")
    measured = [t for layer_rows in series.values() for r in layer_rows for mode in MODES
                for t in r[f"{mode}_ms_by_compile"].values()]
    last = series["encoder"][-1]["train_ms"]  # guides through the last point, clipped to the data's range
    for power, label in ((1, "\u221d T"), (2, "\u221d T\u00b2")):
        axes[0].plot(lengths, [last * (t / lengths[-1]) ** power for t in lengths], color="grey", lw=0.8,
                     ls=(0, (1, 3)), label=label)
    axes[0].set_ylim(min(measured) / 1.5, max(measured) * 1.5)
    for ax, ylabel, panel in zip(
        axes,
        ["milliseconds (median)", "GFLOP, forward (analytic)", "MiB, float32 (analytic)"],
        ["measured time per call (the faster compile)", "work", "memory kept for backward"],
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(t) for t in lengths])
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(ylabel)
        ax.set_title(panel, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(textwrap.fill(title, 160), fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    from PIL import Image  # matplotlib's own dependency

    buffer.seek(0)
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)  # a small file


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _command(argv):
    script = os.path.relpath(os.path.abspath(__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return " ".join(["python", script, *argv])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]),
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=LENGTHS, help="sequence lengths (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--embed-dim", type=int, default=256, help="encoder width and GRU units")
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--dense-dim", type=int, default=1024, help="encoder feed-forward width")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds at most (the median is reported)")
    parser.add_argument("--min-repeats", type=int, default=5, help="timed rounds at least")
    parser.add_argument("--budget-s", type=float, default=2.0,
                        help="stop timing a configuration after --min-repeats once it has taken this many seconds")
    parser.add_argument("--compiles", nargs="+", choices=COMPILES, default=list(COMPILES),
                        help="compile each step these ways and report the faster (default: %(default)s)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, a seconds-long smoke run")
    parser.add_argument("--json", help="write the rows, the command, the machine and the date to this file")
    parser.add_argument("--plot", help="write a PNG of time, FLOPs and memory against length to this file")
    args = parser.parse_args(argv)
    if args.tiny:
        for name, value in TINY.items():
            setattr(args, name, value)

    config = dict(lengths=args.lengths, batch_size=args.batch_size, embed_dim=args.embed_dim,
                  num_heads=args.num_heads, dense_dim=args.dense_dim, repeats=args.repeats,
                  min_repeats=args.min_repeats, budget_s=args.budget_s, compiles=args.compiles)
    before = machine()
    started = time.perf_counter()
    rows = run_benchmark(**config, log=lambda message: print(message, file=sys.stderr))
    elapsed = time.perf_counter() - started

    import keras
    import tensorflow as tf

    when = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    info = machine()
    info["load_average_before"] = before.get("load_average_1_5_15_min")
    header = (
        f"One layer, batch {args.batch_size}: TransformerEncoder (embed {args.embed_dim}, {args.num_heads} heads, "
        f"dense {args.dense_dim}) and GRU ({args.embed_dim} units, return_sequences); "
        f"the faster of {' and '.join(COMPILE_NAMES[c] for c in args.compiles)}; "
        f"{info['cpu']}, {info['logical_cores']} cores; TensorFlow {tf.__version__}, Keras {keras.__version__}; {when}"
    )
    print(header + "\n")
    print(markdown_table(rows))
    print("\ng: tf.function graph, x: with jit_compile=True (XLA); each time is the faster of the two")
    print(f"\n{elapsed:.0f} s in all", file=sys.stderr)
    if args.json:
        import json

        result = {
            "command": _command(argv),
            "date_utc": when,
            "machine": info,
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                         "keras": keras.__version__, "backend": keras.backend.backend()},
            "config": config,
            "wall_s": round(elapsed, 1),
            "flops": "analytic, matrix products only (multiply-add = 2); training step = 3x forward",
            "memory": "analytic float32 bytes (attention weights B*heads*T^2; activations kept for backward, "
                      "an estimate); not measured",
            "rows": _rounded(rows),
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    if args.plot:
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        plot(rows, args.plot, header)
    return rows


if __name__ == "__main__":
    main()
