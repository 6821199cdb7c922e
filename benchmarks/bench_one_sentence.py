"""Where the time of translating one sentence goes: once per call, and per step.

Greedy decoding of one sentence (compiled with XLA, as `Decoder` does for a
few rows) costs a fixed part per call (dispatch, embedding, encoder,
cross-attention keys and values) plus one decoding step per generated token.
This script separates the two on real test sentences and trained weights:
with `[end]` and padding made impossible, a loop of `max_length` 1 and one of
`max_length` L run 1 and L steps; per step = (t_L - t_1) / (L - 1), fixed =
t_1 - per step. It does so for

  whole step          the decoder layer and the output layer (what decoding runs)
  decoder layer only  the output layer cut to 64 columns
  output layer only   the decoder layer skipped (the target embedding goes
                      straight to the output layer; XLA then drops the encoder)

and times real decoding (early exit at `[end]`) of the same sentences, each
cut to its length rounded up to 4 as `Translator.translate` does. If the
per-step times of the two parts add up to the whole step's, a step's weights
stay in the caches between steps; if the whole costs more, they do not.

    python benchmarks/bench_one_sentence.py --arrays output/accel/arrays.npz --weights output/accel/cpu
    KERAS_BACKEND=jax python benchmarks/bench_one_sentence.py --arrays output/accel/arrays.npz --weights output/accel/cpu
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import load_model  # noqa: E402  (same folder)
from bench_step_traffic import read_rate  # noqa: E402
from keras_transformer.decoding import NEG_INF, Decoder, TransformerStepper, _OutputLogits, decode_by_length  # noqa: E402


class _NeverEnding(TransformerStepper):
    """Padding (id 0) never wins, so with an `[end]` id of -1 every step runs."""

    def scores(self, features, state):
        scores = super().scores(features, state)
        first = ops.arange(ops.shape(scores)[1]) == 0
        return ops.where(ops.expand_dims(first, 0), NEG_INF, scores)


class _FirstColumns(_OutputLogits):
    """The output layer cut to its first `columns` columns."""

    def __init__(self, layer, columns):
        super().__init__(layer)
        self.columns = columns

    def constants(self):
        kernel, bias = super().constants()
        return kernel[:, : self.columns], bias[: self.columns]


class _DecoderLayerOnly(_NeverEnding):
    def __init__(self, model, max_length):
        super().__init__(model, max_length)
        self.logits = _FirstColumns(self.output_projection, 64)


class _OutputLayerOnly(_NeverEnding):
    def features(self, state, token, index):
        x = self.target_embedding(ops.expand_dims(token, 1), start_index=index)
        return x[:, 0], state


def time_calls(run, sentences, repeats):
    """Median ms a sentence, one sentence per call, cut as Translator.translate cuts it."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(sentences)):
            decode_by_length(run, sentences[i : i + 1], 1)
        times.append((time.perf_counter() - start) / len(sentences) * 1e3)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrays", required=True, help="arrays.npz from ch11_translation_accelerator.py prepare")
    parser.add_argument("--weights", required=True, help="weights from ch11_translation_accelerator.py train")
    parser.add_argument("--sentences", type=int, default=64, help="test sentences, decoded one at a time")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each times every loop once (medians)")
    args = parser.parse_args(argv)
    args.translator = None

    data = np.load(args.arrays)
    source = data["test_source"][: args.sentences].astype("int32")
    start_id, end_id = int(data["start_id"]), int(data["end_id"])
    length = source.shape[1]
    model = load_model(args)
    kinds = {"whole step": _NeverEnding, "decoder layer only": _DecoderLayerOnly,
             "output layer only": _OutputLayerOnly}
    loops = {
        (kind, steps): Decoder(model, start_id, -1, steps, stepper=stepper(model, steps), jit_compile=True).greedy
        for kind, stepper in kinds.items()
        for steps in (1, length)
    }
    real = Decoder(model, start_id, end_id, length, jit_compile=True).greedy
    outputs = [decode_by_length(real, source[i : i + 1], 1)[0] for i in range(len(source))]
    steps_run = [int(np.flatnonzero(row == 0)[0]) if (row == 0).any() else len(row) for row in outputs]
    loops["real"] = real
    for run in loops.values():  # compile for every width
        for i in range(len(source)):
            decode_by_length(run, source[i : i + 1], 1)

    times = {key: [] for key in loops}
    for _ in range(args.repeats):
        for key, run in loops.items():
            times[key].append(time_calls(run, source, 1))
    ms = {key: statistics.median(values) for key, values in times.items()}

    backend = keras.backend.backend()
    print(f"One sentence at a time, {len(source)} test sentences, {backend} with XLA, {os.cpu_count()} cores; "
          f"medians of {args.repeats} rounds; memory read rate {read_rate(1):.1f} GB/s from one thread.\n")
    print("| loop | ms a sentence at 1 step | at %d steps | ms per step | fixed ms a call |" % length)
    print("| --- | ---: | ---: | ---: | ---: |")
    per_step = {}
    for kind in kinds:
        one, many = ms[(kind, 1)], ms[(kind, length)]
        per_step[kind] = (many - one) / (length - 1)
        print(f"| {kind} | {one:.2f} | {many:.2f} | {per_step[kind]:.3f} | {one - per_step[kind]:.2f} |")
    parts = per_step["decoder layer only"] + per_step["output layer only"]
    mean_steps = float(np.mean(steps_run))
    whole = per_step["whole step"]
    fixed = ms[("whole step", 1)] - whole
    print(f"\nparts add up to {parts:.3f} ms a step; the whole step takes {whole:.3f} ({whole / parts:.2f} times).")
    print(f"real decoding (early exit): {ms['real']:.2f} ms a sentence, {mean_steps:.2f} steps on average; "
          f"fixed + steps x per step = {fixed + mean_steps * whole:.2f}.")


if __name__ == "__main__":
    main()
