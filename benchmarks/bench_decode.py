"""Translation decoding speed, side by side on the same trained weights and sentences.

Methods (all greedy unless noted; all on the same real test sentences):
  book          one sentence at a time, the whole model re-run on the whole
                prefix at every step (the chapter's algorithm, written here as
                the reference; its forward pass is compiled, the loop is not)
  hub-sampler   keras_hub.samplers.GreedySampler, batched and compiled, no
                key/value cache (as the KerasHub translation example uses it)
  hub-cached    keras_hub.layers.TransformerDecoder holding the same weights,
                driven with its own self/cross-attention caches by this
                package's compiled loop (the strongest peer; the loop drops
                finished sentences and groups the encoder's sentences for it
                as for ours: only the decoder layer differs)
  ours          keras_transformer.decoding.Decoder: cached, compiled, batched,
                early exit; at each of --batch-sizes and one sentence at a time
                (each cut to its length rounded up to 4, as Translator.translate
                and decode_by_length cut every batch)
  ours by length  the same over all the sentences in batches grouped by source
                length (decoding.decode_by_length); "2 workers": two batches in
                flight at once, what Translator.translate does
  ours ... every row scored  the same without dropping finished rows
                (Decoder(skip_finished=False), what XLA and JAX run)
  ours-beam4    the same with beam search, beam 4, length penalty 0.6
  --xla         this package's decoder compiled by XLA (TensorFlow's jit_compile)
  --bf16        this package's decoder with the model under mixed_bfloat16

Each row also gives the model FLOPs per second of the steps the loop ran
(matrix products) and their fraction of a float32 matrix product's rate
measured in the same run.

    python benchmarks/bench_decode.py --arrays output/accel/arrays.npz --weights output/accel/gpu
    python benchmarks/bench_decode.py --arrays output/accel/arrays.npz --translator output/ch11_translation/transformer/translator

`--arrays` is written by `chapters/ch11_translation_accelerator.py prepare`
(tokenized splits and the [start]/[end] ids); the model comes from that
script's trained weight files (`--weights`) or from a saved translator.
"""

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))

from bench_encoder import matmul_gflops  # noqa: E402  (same folder)
from keras_transformer.decoding import (  # noqa: E402
    ENCODE_GROUP_ROWS,
    ENCODE_GROUPS,
    SKIP_FINISHED_MIN_ROWS,
    Decoder,
    TransformerStepper,
    _compile,
    decode_by_length,
)
from keras_transformer.layers.interop import copy_weights_to_keras_hub  # noqa: E402


def load_model(args, precision="float32"):
    """The trained model, built under `precision` (weights stay float32)."""
    keras.mixed_precision.set_global_policy(precision)
    try:
        if args.translator:
            from keras_transformer.translator import Translator

            translator = Translator.load(args.translator)
            if precision == "float32":
                return translator.model
            from keras_transformer.models.seq2seq import build_translation_model

            original = translator.model
            model = build_translation_model(
                "transformer", key_dim=original.get_layer("decoder").key_dim, compile=False
            )
            model.set_weights(original.get_weights())
            return model
        from ch11_translation_accelerator import build_model, load_trained_weights

        model = build_model()
        load_trained_weights(model, args.weights)
        return model
    finally:
        keras.mixed_precision.set_global_policy("float32")


def decode_flops(model, source, outputs, batch, beams=1, by_length=False, skip_finished=False):
    """Matrix-product FLOPs of the steps the loop ran (attention scores left out, under 2%).

    Per batch the loop runs until its longest output ends, for every row (and
    beam). For beam search the best beam's length stands in for the loop's,
    so its count is a lower bound (when sentences leave the beam loop, the
    count is unknown: see `main`). `skip_finished`: the decoder layer and the
    output layer ran only on the rows still generating (`Decoder.skip_finished`:
    finished rows leave the state), and batches of at least 2 x
    ENCODE_GROUP_ROWS sentences were encoded in groups of similar length, each
    cut to its longest source (`Decoder`'s grouped encoding). `by_length`: the batches
    `decode_by_length` forms (sorted by source length, cut to their longest
    source rounded up to 4).
    """
    if by_length:
        lengths = np.sum(source != 0, axis=1)
        order = np.argsort(lengths, kind="stable")
        return sum(
            decode_flops(model, source[rows, : min(-(-max(int(lengths[rows].max()), 1) // 4) * 4, source.shape[1])],
                         outputs[rows], batch, beams, skip_finished=skip_finished)
            for rows in (order[i : i + batch] for i in range(0, len(source), batch))
        )
    decoder = model.get_layer("decoder")
    embed, dense = decoder.embed_dim, decoder.dense_dim
    width = decoder.num_heads * decoder.key_dim
    vocab = model.get_layer("output_projection").units
    per_source_token = 4 * 2 * embed * width + 2 * 2 * embed * dense + 2 * 2 * embed * width  # encoder, cross K/V
    per_step = 4 * 2 * embed * width + 2 * 2 * embed * width + 2 * 2 * embed * dense
    projection = 2 * embed * vocab
    total = 0
    for i in range(0, len(source), batch):
        rows = source[i : i + batch]
        out = outputs[i : i + batch]
        # A row's loop steps: up to its first padding (which follows its [end]), else all.
        row_steps = [int(np.flatnonzero(r == 0)[0]) if (r == 0).any() else len(r) for r in out]
        steps = max(row_steps)
        row_steps_run = sum(row_steps) if skip_finished else rows.shape[0] * steps
        source_tokens = rows.shape[0] * rows.shape[1]
        groups = min(ENCODE_GROUPS, rows.shape[0] // ENCODE_GROUP_ROWS)
        if skip_finished and groups > 1:
            lengths = np.sort(np.sum(rows != 0, axis=1))
            count = len(lengths)
            source_tokens = sum((b - a) * max(int(lengths[a:b].max()), 1) for a, b in
                                ((g * count // groups, (g + 1) * count // groups) for g in range(groups)))
        total += beams * (source_tokens * per_source_token + row_steps_run * (per_step + projection))
    return total


class PeakMemory:
    """Peak resident memory above the start (host), sampled every 5 ms."""

    def __enter__(self):
        import psutil

        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.mib = (self.peak - self.base) / 2**20


def device_peak_mib():
    if keras.backend.backend() != "jax":
        return None
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use", 0) / 2**20 or None


# -- the book's algorithm -----------------------------------------------------
def book_greedy(model, source, start_id, end_id, max_length):
    """One sentence at a time; full model on the padded prefix each step."""
    forward = _compile(lambda s, t: model({"english": s, "spanish": t}, training=False), variables=model.variables)
    outputs = np.zeros((len(source), max_length), "int32")
    for row, sentence in enumerate(source):
        target = np.zeros((1, max_length), "int32")
        target[0, 0] = start_id
        for i in range(max_length):
            probabilities = forward(sentence[None, :], target)
            token = int(np.argmax(ops.convert_to_numpy(probabilities)[0, i]))
            outputs[row, i] = token
            if token == end_id:
                break
            if i + 1 < max_length:
                target[0, i + 1] = token
    return outputs


# -- keras-hub, two ways -------------------------------------------------------
def hub_sampler_greedy(model, start_id, end_id, max_length):
    import keras_hub

    sampler = keras_hub.samplers.GreedySampler()

    def generate(source):
        batch = ops.shape(source)[0]
        prompt = ops.concatenate(
            [ops.full((batch, 1), start_id, "int32"), ops.zeros((batch, max_length), "int32")], axis=1
        )

        def next_fn(prompt, cache, index):
            probabilities = model({"english": source, "spanish": prompt[:, :-1]}, training=False)
            logits = ops.log(ops.maximum(ops.take(probabilities, index - 1, axis=1), 1e-30))
            return logits, None, cache

        return sampler(next=next_fn, prompt=prompt, index=1, stop_token_ids=[end_id])[:, 1:]

    return _compile(generate, variables=model.variables)


class HubCachedStepper(TransformerStepper):
    """Our embeddings and output layer around keras-hub's decoder with our weights."""

    def __init__(self, model, max_length):
        import keras_hub

        super().__init__(model, max_length)
        ours = self.decoder
        hub = keras_hub.layers.TransformerDecoder(
            ours.dense_dim, ours.num_heads, layer_norm_epsilon=ours.layer_norm_epsilon
        )
        hub.build((None, None, ours.embed_dim), (None, None, ours.embed_dim))
        copy_weights_to_keras_hub(ours, hub)
        self.hub = hub
        self.variables = hub.variables  # read by Decoder's compiled loops besides the model's

    @property
    def attention_layers(self):
        return []  # keras-hub's layer projects its own way: no matrices carried for it

    def encode(self, source, groups=1):
        # keras-hub's caches stack keys and values: (B, 2, S, heads, key_dim).
        state = super().encode(source, groups)
        return tuple(ops.stack(pair, axis=1) for pair in state[:2]) + tuple(state[2:])

    def step(self, state, token, index):
        # The same embedding and output-logits path as ours: only the decoder layer differs.
        self_cache, cross_cache, source_mask = state[:3]
        x = self.target_embedding(ops.expand_dims(token, 1), start_index=index)
        x, self_cache, cross_cache = self.hub(
            x,
            encoder_sequence=ops.zeros((ops.shape(x)[0], 1, ops.shape(x)[2]), x.dtype),
            encoder_padding_mask=source_mask,
            self_attention_cache=self_cache,
            self_attention_cache_update_index=index,
            cross_attention_cache=cross_cache,
        )
        return self.scores(x[:, 0], state), (self_cache, cross_cache, source_mask) + tuple(state[3:])


# -- timing --------------------------------------------------------------------
def time_method(name, run, sentences, repeats, batch):
    outputs, times = None, []
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            result = [np.asarray(run(sentences[i : i + batch])) for i in range(0, len(sentences), batch)]
            times.append(time.perf_counter() - start)
            outputs = cut_after_end(np.concatenate(result)[:, :outputs_width], end_id_for_comparison)
    seconds = statistics.median(times)
    print(f"{name}: {seconds / len(sentences) * 1e3:.2f} ms/sentence", file=sys.stderr)
    return outputs, seconds, memory.mib


outputs_width = 20
end_id_for_comparison = 3


def cut_after_end(tokens, end_id):
    """Zero everything after each row's first [end] (or padding).

    keras-hub's sampler keeps generating for rows that finished until every
    row has; those tokens are not part of the translation.
    """
    tokens = tokens.copy()
    for row in tokens:
        stops = np.flatnonzero((row == end_id) | (row == 0))
        if stops.size:
            row[stops[0] + 1 :] = 0
    return tokens


def main(argv=None):
    global outputs_width, end_id_for_comparison
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrays", required=True, help="arrays.npz from ch11_translation_accelerator.py prepare")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--weights", help="weight files (a folder) or a .weights.h5 from ch11_translation_accelerator.py train")
    group.add_argument("--translator", help="a saved Translator folder (needs TensorFlow)")
    parser.add_argument("--sentences", type=int, default=512, help="test sentences decoded by every method")
    parser.add_argument("--book-sentences", type=int, default=64,
                        help="sentences for the (slow) book method; it is timed per sentence")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="batch of the peers (hub-sampler, hub-cached) and of beam search")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[64, 256],
                        help="batches for this package's and keras-hub's cached greedy decoders")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out (names as in the table)")
    parser.add_argument("--only", nargs="*", default=[], help="time only these methods (names as in the table)")
    parser.add_argument("--xla", action="store_true", help="also time this package's decoder compiled with XLA")
    parser.add_argument("--bf16", action="store_true",
                        help="also time this package's decoder with the model under mixed_bfloat16")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)

    data = np.load(args.arrays)
    source = data["test_source"][: args.sentences].astype("int32")
    start_id, end_id = int(data["start_id"]), int(data["end_id"])
    max_length = source.shape[1]
    outputs_width = max_length
    end_id_for_comparison = end_id
    model = load_model(args)
    # Without XLA unless a row says XLA (the default, jit_compile="auto", mixes both: see Decoder).
    ours = Decoder(model, start_id, end_id, max_length, jit_compile=False)
    every_row = Decoder(model, start_id, end_id, max_length, jit_compile=False, skip_finished=False)
    hub = Decoder(model, start_id, end_id, max_length, stepper=HubCachedStepper(model, max_length), jit_compile=False)
    # name -> (run, batch, sentence limit, repeats, beams, model)
    methods = {
        "book": (lambda s: book_greedy(model, s, start_id, end_id, max_length), 1, args.book_sentences, 1, 1, model),
        "hub-sampler": (hub_sampler_greedy(model, start_id, end_id, max_length), args.batch_size, None,
                        args.repeats, 1, model),
    }
    for batch in args.batch_sizes:
        methods[f"hub-cached, batch {batch}"] = (hub.greedy, batch, None, args.repeats, 1, model)
        methods[f"ours, batch {batch}"] = (ours.greedy, batch, None, args.repeats, 1, model)
        # The whole set at once, in batches of `batch` sorted by source length; with
        # two batches in flight at once (workers=2) as Translator.translate does.
        methods[f"ours by length, batch {batch}"] = (
            lambda s, b=batch: np.stack(decode_by_length(ours.greedy, s, b)), len(source), None, args.repeats, 1, model)
        methods[f"ours by length, 2 workers, batch {batch}"] = (
            lambda s, b=batch: np.stack(decode_by_length(ours.greedy, s, b, workers=2)), len(source), None,
            args.repeats, 1, model)
        if ours.skip_finished:  # the same, with the output layer run on finished rows too
            methods[f"ours by length, every row scored, batch {batch}"] = (
                lambda s, b=batch: np.stack(decode_by_length(every_row.greedy, s, b)), len(source), None,
                args.repeats, 1, model)
    def one_at_a_time(run):
        # What Translator.translate does with one sentence: decode_by_length
        # cuts it to its length rounded up to 4 (padding changes no output).
        return lambda s: np.stack(decode_by_length(run, s, 1))

    methods["ours, one at a time"] = (one_at_a_time(ours.greedy), 1, 64, args.repeats, 1, model)
    methods["ours-beam4"] = (lambda s: ours.beam(s, beam_size=4, length_penalty=0.6), args.batch_size, None,
                             args.repeats, 4, model)
    if args.xla:
        xla = Decoder(model, start_id, end_id, max_length, jit_compile=True)
        # Greedy at beam search's batch, for a like-for-like beam/greedy ratio under XLA.
        methods[f"ours XLA, batch {args.batch_size}"] = (xla.greedy, args.batch_size, None, args.repeats, 1, model)
        methods["ours XLA, one at a time"] = (one_at_a_time(xla.greedy), 1, 64, args.repeats, 1, model)
        methods["ours-beam4 XLA"] = (lambda s: xla.beam(s, beam_size=4, length_penalty=0.6), args.batch_size,
                                     None, args.repeats, 4, model)
    if args.bf16:
        model_bf16 = load_model(args, "mixed_bfloat16")
        bf16 = Decoder(model_bf16, start_id, end_id, max_length, jit_compile=False)
        for batch in args.batch_sizes:
            methods[f"ours bfloat16, batch {batch}"] = (bf16.greedy, batch, None, args.repeats, 1, model_bf16)
            methods[f"ours bfloat16 by length, 2 workers, batch {batch}"] = (
                lambda s, b=batch: np.stack(decode_by_length(bf16.greedy, s, b, workers=2)), len(source), None,
                args.repeats, 1, model_bf16)
        methods["ours bfloat16, one at a time"] = (one_at_a_time(bf16.greedy), 1, 64, args.repeats, 1, model_bf16)
        methods["ours-beam4 bfloat16"] = (lambda s: bf16.beam(s, beam_size=4, length_penalty=0.6),
                                          args.batch_size, None, args.repeats, 4, model_bf16)
        if args.xla:
            bf16_xla = Decoder(model_bf16, start_id, end_id, max_length, jit_compile=True)
            methods["ours bfloat16 XLA, one at a time"] = (one_at_a_time(bf16_xla.greedy), 1, 64, args.repeats, 1, model_bf16)
            methods["ours-beam4 bfloat16 XLA"] = (lambda s: bf16_xla.beam(s, beam_size=4, length_penalty=0.6),
                                                  args.batch_size, None, args.repeats, 4, model_bf16)
    peak = matmul_gflops()
    rows, results = [], {}
    for name, (run, batch, limit, repeats, beams, used) in methods.items():
        if name in args.skip or (args.only and name not in args.only):
            continue
        sentences = source[: limit or len(source)]
        # Compile for the batch shape (and warm up); one sentence at a time,
        # for every width the sentences are cut to.
        for begin in range(0, batch if batch > 1 else len(sentences), batch):
            run(sentences[begin : begin + batch])
        if len(sentences) % batch:
            run(sentences[len(sentences) // batch * batch :])
        outputs, seconds, mib = time_method(name, run, sentences, repeats, batch)
        results[name] = outputs
        by_length = " by length, " in name or name.endswith("one at a time")
        shown_batch = int(name.rsplit(" ", 1)[1]) if " by length, " in name else batch
        skips = beams == 1 and ours.skip_finished and "XLA" not in name and "every row" not in name \
            and not name.startswith(("book", "hub-sampler")) and shown_batch >= SKIP_FINISHED_MIN_ROWS
        flops = decode_flops(used, sentences, outputs, shown_batch, beams, by_length=by_length, skip_finished=skips)
        # Beam search without XLA drops sentences whose beams all ended, at a
        # step the best beam's length does not tell: no FLOP count for it.
        beam_drops = beams > 1 and ours.skip_finished and "XLA" not in name
        rows.append((name, shown_batch, len(sentences), seconds, mib, None if beam_drops else flops / seconds / 1e9))
    peak_after = matmul_gflops()

    reference = results.get("book")
    device = keras.backend.backend()
    if device == "jax":
        import jax

        device += " on " + jax.devices()[0].device_kind
    lines = [
        f"Greedy decoding of real test sentences (max {max_length} tokens, early exit at [end]); "
        f"{device}, {platform.machine()} with {os.cpu_count()} cores, {date.today()}; "
        f"median of {args.repeats} runs (book: one run); float32 matmul {peak:.0f} GFLOP/s before "
        f"and {peak_after:.0f} after.",
        "",
        "| method | batch | sentences | ms / sentence | sentences / s | vs book | GFLOP/s | MFU (float32 peak) "
        "| peak host memory (MiB) | same tokens as book |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    book_ms = None
    for name, batch, count, seconds, mib, gflops in rows:
        ms = seconds / count * 1e3
        book_ms = ms if name == "book" else book_ms
        same = "-"
        if reference is not None and name != "book":
            n = min(len(reference), len(results[name]))
            same = f"{np.mean(np.all(results[name][:n] == reference[:n], axis=1)):.0%}"
        speedup = f"{book_ms / ms:.0f}x" if book_ms else "-"
        rate = "- | -" if gflops is None else f"{gflops:.1f} | {gflops / max(peak, peak_after):.1%}"
        lines.append(f"| {name} | {batch} | {count} | {ms:.2f} | {1e3 / ms:.0f} | {speedup} | {rate} | {mib:.0f} | {same} |")
    peak_device = device_peak_mib()
    if peak_device:
        lines.append(f"\nDevice memory peak over the whole run: {peak_device:.0f} MiB.")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
