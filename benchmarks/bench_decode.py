"""Translation decoding speed: this package's decoder against keras-hub's, and against an older commit.

Every method decodes the same real test sentences with the same trained weights:

  book                 one sentence at a time, the whole model re-run on the whole
                       prefix at every step (the chapter's algorithm; --book)
  hub-cached, batch N  keras_hub.layers.TransformerDecoder holding the same weights,
                       with its own self/cross-attention caches, driven by this
                       package's greedy loop (only the decoder layer differs)
  ours, batch N        keras_transformer.translation.decoding.Decoder(...).greedy, TensorFlow
                       without XLA: finished sentences leave the loop
  ours every row, batch N   the same keeping every row (skip_finished=False)
  ours XLA, batch 64   the same compiled by XLA (every row runs every step)
  ours, one at a time  one sentence per call, each cut to its length rounded up
                       to 4 (what Translator.translate does with one sentence),
                       without XLA; "XLA": compiled by XLA (jit_compile="auto"
                       picks it for fewer than XLA_MAX_ROWS rows); "3-D kernels":
                       the attention projections from the layers' own kernels at
                       every step instead of the 2-D matrices the loop is given
  ours-beam4, batch 64 beam search, beam 4, length penalty 0.6

With `--old DIR` (a `git worktree` of an older commit), each round first runs that
tree's own bench_decode.py in a subprocess on the same weights and sentences
(its rows of the same names), then this tree's; rounds alternate and the table
gives the median over rounds of each run's median:

    git worktree add /tmp/kt-old 6ba10fd
    python benchmarks/bench_decode.py --arrays output/bench/accel/arrays.npz \\
        --weights output/bench/weights --old /tmp/kt-old --rounds 3 --markdown output/bench/decode.md

`--arrays` and `--weights` come from `tools/translation_arrays.py prepare` and `train`.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "chapters")]

from keras_transformer.translation.decoding import (  # noqa: E402
    Decoder,
    TransformerStepper,
    TransformerWeights,
    _compile,
    _output_weights,
    decode_by_length,
)
from keras_transformer.layers.interop import copy_weights_to_keras_hub  # noqa: E402

# The rows an older tree's bench_decode.py also times (same names there).
OLD_ROWS = ["hub-cached, batch 64", "hub-cached, batch 256", "ours, batch 64", "ours, batch 256",
            "ours XLA, batch 64", "ours XLA, one at a time", "ours, one at a time", "ours-beam4"]
TARGETS = {  # new / old at most (the redesign's speed targets)
    "ours, batch 64": 1.10, "ours, batch 256": 1.10, "ours XLA, one at a time": 1.10,
}


def load_model(args):
    if args.translator:
        from keras_transformer.translation.translator import Translator

        return Translator.load(args.translator).model
    try:
        from translation_arrays import build_model, load_trained_weights
    except ImportError:  # an older tree
        from ch11_translation_accelerator import build_model, load_trained_weights
    model = build_model()
    load_trained_weights(model, args.weights)
    return model


def book_greedy(model, source, start_id, end_id, max_length):
    """One sentence at a time; the full model on the padded prefix at each step."""
    forward = _compile(lambda s, t: model({"english": s, "spanish": t}, training=False), variables=model.variables)
    outputs = np.zeros((len(source), max_length), "int32")
    for row, sentence in enumerate(source):
        target = np.zeros((1, max_length), "int32")
        target[0, 0] = start_id
        for i in range(max_length):
            token = int(np.argmax(ops.convert_to_numpy(forward(sentence[None, :], target))[0, i]))
            outputs[row, i] = token
            if token == end_id:
                break
            if i + 1 < max_length:
                target[0, i + 1] = token
    return outputs


class HubState(NamedTuple):
    self_cache: object  # keras-hub's stacked (B, 2, T, heads, key_dim)
    cross_cache: object
    source_mask: object


class HubCachedStepper(TransformerStepper):
    """Our embeddings and output layer around keras-hub's decoder layer holding our weights."""

    beam_shared = ("cross_cache", "source_mask")

    def __init__(self, model, max_length):
        import keras_hub

        super().__init__(model, max_length)
        ours = self.decoder
        self.hub = keras_hub.layers.TransformerDecoder(ours.dense_dim, ours.num_heads, dtype=ours.dtype_policy,
                                                       layer_norm_epsilon=ours.layer_norm_epsilon)
        self.hub.build((None, None, ours.embed_dim), (None, None, ours.embed_dim))
        copy_weights_to_keras_hub(ours, self.hub)
        self.variables = self.hub.variables  # read by the Decoder's compiled loops besides the model's

    def weights(self):
        return _output_weights(self.output_projection)

    def encode(self, source):
        state = super().encode(source)
        return HubState(ops.stack([state.self_keys, state.self_values], axis=1),
                        ops.stack([state.cross_keys, state.cross_values], axis=1), state.source_mask)

    def step(self, state, token, index, weights):
        x = self.target_embedding(ops.expand_dims(token, 1), start_index=index)
        x, self_cache, cross_cache = self.hub(
            x, encoder_sequence=ops.zeros((ops.shape(x)[0], 1, ops.shape(x)[2]), x.dtype),
            encoder_padding_mask=state.source_mask, self_attention_cache=state.self_cache,
            self_attention_cache_update_index=index, cross_attention_cache=state.cross_cache)
        logits = ops.cast(ops.matmul(ops.cast(x[:, 0], weights[0].dtype), weights[0]) + weights[1], "float32")
        return logits, state._replace(self_cache=self_cache)


class KernelStepper(TransformerStepper):
    """Our stepper without the 2-D projection matrices: each step reshapes the layers' 3-D kernels."""

    def weights(self):
        return TransformerWeights(_output_weights(self.output_projection), None)


def methods_of(args, model, source, start_id, end_id, max_length):
    """name -> (run, batch, sentences)."""
    ours = Decoder(model, start_id, end_id, max_length, jit_compile=False)
    every_row = Decoder(model, start_id, end_id, max_length, jit_compile=False, skip_finished=False)
    xla = Decoder(model, start_id, end_id, max_length, jit_compile=True)
    kernels = Decoder(model, start_id, end_id, max_length, jit_compile=True,
                      stepper=KernelStepper(model, max_length))
    hub = Decoder(model, start_id, end_id, max_length, jit_compile=False,
                  stepper=HubCachedStepper(model, max_length))
    one = lambda run: (lambda s: np.stack(decode_by_length(run, s, 1)))  # noqa: E731
    methods = {}
    if args.book:
        methods["book"] = (lambda s: book_greedy(model, s, start_id, end_id, max_length), 1, args.book)
    for batch in (64, 256):
        methods[f"hub-cached, batch {batch}"] = (hub.greedy, batch, len(source))
        methods[f"ours, batch {batch}"] = (ours.greedy, batch, len(source))
        methods[f"ours every row, batch {batch}"] = (every_row.greedy, batch, len(source))
    methods["ours XLA, batch 64"] = (xla.greedy, 64, len(source))
    methods["ours, one at a time"] = (one(ours.greedy), 1, args.one_at_a_time)
    methods["ours XLA, one at a time"] = (one(xla.greedy), 1, args.one_at_a_time)
    methods["ours XLA 3-D kernels, one at a time"] = (one(kernels.greedy), 1, args.one_at_a_time)
    methods["ours-beam4"] = (lambda s: ours.beam(s, beam_size=4, length_penalty=0.6), 64, len(source))
    return {name: m for name, m in methods.items() if not args.only or name in args.only}


def time_all(methods, source, repeats, warm=True):
    """name -> (median seconds per sentence, tokens)."""
    results = {}
    for name, (run, batch, count) in methods.items():
        sentences = source[:count]
        decode = lambda: np.concatenate(  # noqa: E731
            [np.asarray(run(sentences[i : i + batch])) for i in range(0, len(sentences), batch)])
        tokens = decode() if warm else None  # compiles for every shape met
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tokens = decode()
            times.append(time.perf_counter() - start)
        results[name] = (statistics.median(times) / len(sentences), tokens)
        print(f"{name}: {results[name][0] * 1e3:.2f} ms/sentence", file=sys.stderr, flush=True)
    return results


def run_old(args, names):
    """An older tree's bench_decode.py on the same weights and sentences: name -> seconds per sentence."""
    with tempfile.TemporaryDirectory() as scratch:
        table = Path(scratch) / "old.md"
        command = [sys.executable, str(Path(args.old) / "benchmarks" / "bench_decode.py"), "--arrays",
                   str(Path(args.arrays).resolve()), "--weights", str(Path(args.weights).resolve()), "--xla",
                   "--sentences", str(args.sentences), "--repeats", str(args.repeats), "--markdown", str(table),
                   "--only", *names]
        env = dict(os.environ, PYTHONPATH=str(Path(args.old).resolve()))
        subprocess.run(command, cwd=args.old, env=env, check=True, stdout=subprocess.DEVNULL)
        rows = {}
        for line in table.read_text().splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) > 4 and cells[0] in names:
                rows[cells[0]] = float(cells[3]) / 1e3
        return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrays", required=True, help="arrays.npz from tools/translation_arrays.py prepare")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--weights", help="weight files (a folder) from tools/translation_arrays.py train")
    group.add_argument("--translator", help="a saved Translator folder (no --old then)")
    parser.add_argument("--old", help="a git worktree of an older commit, timed side by side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating old/new rounds (median reported)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats in each round (median)")
    parser.add_argument("--sentences", type=int, default=512, help="test sentences decoded by the batched methods")
    parser.add_argument("--one-at-a-time", type=int, default=64, help="sentences decoded one at a time")
    parser.add_argument("--book", type=int, default=0, help="also time the book's loop on this many sentences")
    parser.add_argument("--only", nargs="*", default=[], help="time only these methods (names as in the table)")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)

    data = np.load(args.arrays)
    source = data["test_source"][: args.sentences].astype("int32")
    start_id, end_id, max_length = int(data["start_id"]), int(data["end_id"]), source.shape[1]
    model = load_model(args)
    methods = methods_of(args, model, source, start_id, end_id, max_length)
    old_names = [n for n in OLD_ROWS if n in methods]
    old, new, tokens = {}, {}, {}
    started = datetime.now(timezone.utc)
    for round_ in range(args.rounds):
        if args.old and old_names:
            for name, seconds in run_old(args, old_names).items():
                old.setdefault(name, []).append(seconds)
        for name, (seconds, out) in time_all(methods, source, args.repeats, warm=round_ == 0).items():
            new.setdefault(name, []).append(seconds)
            tokens[name] = out
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    ms = lambda times: statistics.median(times) * 1e3  # noqa: E731
    reference = tokens.get("hub-cached, batch 64")
    lines = [
        f"Greedy decoding unless noted, {len(source)} real test sentences (max {max_length} tokens), "
        f"{keras.backend.backend()} on {platform.machine()} with {os.cpu_count()} cores, "
        f"{started:%Y-%m-%d %H:%M} UTC; median over {args.rounds} alternating rounds of the median of "
        f"{args.repeats} runs" + (f"; old: {args.old}" if args.old else "") + ".",
        "",
        "| method | batch | sentences | old ms / sentence | new ms / sentence | new / old | "
        "same tokens as hub-cached |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (run, batch, count) in methods.items():
        before = f"{ms(old[name]):.2f}" if name in old else "-"
        ratio = f"{ms(new[name]) / ms(old[name]):.2f}" if name in old else "-"
        if name in TARGETS and name in old:
            ratio += " (target <= %.2f: %s)" % (TARGETS[name], "met" if ms(new[name]) / ms(old[name]) <= TARGETS[name]
                                                else "missed")
        out = tokens[name]
        n = min(len(out), 0 if reference is None else len(reference))
        same = f"{np.mean(np.all(out[:n] == reference[:n], axis=1)):.0%}" if n and "beam" not in name else "-"
        lines.append(f"| {name} | {batch} | {count} | {before} | {ms(new[name]):.2f} | {ratio} | {same} |")
    for label, rows in (("old", old), ("new", new)):
        if "ours-beam4" in rows and "ours, batch 64" in rows:
            lines.append(f"\nBeam 4 against greedy at batch 64, {label}: "
                         f"{ms(rows['ours-beam4']) / ms(rows['ours, batch 64']):.2f}x.")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
