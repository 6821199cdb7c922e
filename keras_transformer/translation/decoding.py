"""Greedy and beam-search decoding of the chapter's translators: cached, compiled, batched.

Unlike the book's loop, the encoder runs once per batch, the self-attention keys/values
live in a preallocated cache written in place (static shapes: a loop compiles once per
input shape), and a batch stops once every sentence has produced `[end]`.

    decoder = Decoder(model, start_id=2, end_id=3, max_length=20)
    tokens = decoder.greedy(source_tokens)              # (B, max_length)
    tokens = decoder.beam(source_tokens, beam_size=4)   # (B, max_length)
    rows = decode_by_length(decoder.greedy, many_sources, batch_size=256)

As in keras-hub's samplers, the loops know nothing of models: a *stepper*
(`TransformerStepper`, `GRUStepper`) has `encode(source) -> state` (a
`NamedTuple`, one row per sentence), `weights()` (what every step reads and
no row owns), `step(state, token, index, weights) -> ((B, vocab) float32
logits, state)` and `beam_shared` (fields the same for all beams of a sentence).
"""

import functools
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

NEG_INF = -1e9
# jit_compile="auto" on TensorFlow: loops over fewer rows (sentences x beams) than this
# run under XLA; larger ones without XLA, dropping finished rows. One sentence at a time,
# XLA took 20.45 ms a sentence against 33.76 without (-39%); at batch 64, 4.88 against 3.48
# (+40%) (`benchmarks/bench_decode.py`, command and table in docs/benchmarks.md, 2026-12-02).
XLA_MAX_ROWS = 16


def _layer(model, name):
    return next((layer for layer in model.layers if layer.name == name), None)


def _get_layers(stepper, model, max_length, *names):
    for name in names:
        setattr(stepper, name, _layer(model, name))
    stepper.max_length = max_length


def _take(tree, rows):  # the `rows` of every tensor in `tree`
    return keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), tree)


def _output_weights(layer):
    """The output layer's `(kernel, bias)` in its compute dtype, or `()` if it cannot give logits."""
    if getattr(layer.activation, "__name__", "") not in ("softmax", "linear") or layer.kernel is None:
        return ()
    bias = layer.bias if layer.use_bias else ops.zeros((layer.units,))
    return (ops.cast(layer.kernel, layer.compute_dtype), ops.cast(bias, layer.compute_dtype))


def _logits(layer, weights, x):
    """`(B, D)` -> `(B, vocab)` float32 logits; the softmax is skipped (argmax and log-softmax do not need it)."""
    if not weights:  # another activation: log of its clipped probabilities
        return ops.log(ops.maximum(ops.cast(layer(x), "float32"), 1e-30))
    kernel, bias = weights
    return ops.cast(ops.matmul(ops.cast(x, kernel.dtype), kernel) + bias, "float32")


class TransformerState(NamedTuple):
    self_keys: object  # (B, max_length, heads, key_dim), written at each step
    self_values: object
    cross_keys: object  # (B, S, heads, key_dim), projected once
    cross_values: object
    source_mask: object  # (B, S) booleans


class TransformerWeights(NamedTuple):
    output: tuple  # (kernel, bias) of the output layer, or ()
    decoder: tuple  # the decoder's (self, cross) attention HeadProjections


class TransformerStepper:
    """One token at a time through a `transformer` translation model (seq2seq.py names)."""

    beam_shared = ("cross_keys", "cross_values", "source_mask")

    def __init__(self, model, max_length):
        _get_layers(self, model, max_length, "source_embedding", "encoder", "target_embedding", "decoder",
                    "output_projection")

    def weights(self):
        # Attention projections as 2-D matrices: one sentence under XLA 13.76 ms against 16.18 with
        # the layers' 3-D kernels (-15%; -34% in 3 other runs): bench_decode.py, docs/benchmarks.md.
        return TransformerWeights(_output_weights(self.output_projection), self.decoder.head_projections())

    def encode(self, source):
        source_mask = ops.not_equal(source, 0)
        encoded = self.encoder(self.source_embedding(source), padding_mask=source_mask)
        self_keys, self_values = self.decoder.init_cache(ops.shape(source)[0], self.max_length, split=True)
        cross_keys, cross_values = self.decoder.compute_cross_attention_cache(encoded, split=True)
        return TransformerState(self_keys, self_values, cross_keys, cross_values, source_mask)

    def step(self, state, token, index, weights):
        """The decoder layer itself on one position, through its cache arguments."""
        x = self.target_embedding(ops.expand_dims(token, 1), start_index=index)
        x, (self_keys, self_values), _ = self.decoder(
            x, self_attention_cache=(state.self_keys, state.self_values), self_attention_cache_update_index=index,
            cross_attention_cache=(state.cross_keys, state.cross_values), encoder_outputs_mask=state.source_mask,
            projections=weights.decoder, training=False)
        logits = _logits(self.output_projection, weights.output, x[:, 0])
        return logits, state._replace(self_keys=self_keys, self_values=self_values)


class GRUState(NamedTuple):
    hidden: object  # (B, latent): the decoder GRU's state, also its last output
    encoded: object = ()  # gru-attention: (B, S, latent) encoder states
    source_mask: object = ()  # gru-attention: (B, S) booleans


class GRUStepper:
    """One token at a time through the `gru` and `gru-attention` models."""

    beam_shared = ("encoded", "source_mask")

    def __init__(self, model, max_length):
        _get_layers(self, model, max_length, "source_embedding", "encoder", "target_embedding", "decoder_gru",
                    "attention", "output_projection")

    def weights(self):
        return _output_weights(self.output_projection)

    def encode(self, source):
        embedded, source_mask = self.source_embedding(source), ops.not_equal(source, 0)
        if self.attention is None:
            return GRUState(self.encoder(embedded, mask=source_mask))
        encoded, forward_state, backward_state = self.encoder(embedded, mask=source_mask)
        return GRUState(forward_state + backward_state, encoded, source_mask)

    def step(self, state, token, index, weights):
        y = self.decoder_gru(self.target_embedding(ops.expand_dims(token, 1)), initial_state=state.hidden)
        hidden = y[:, -1]
        if self.attention is not None:
            context = self.attention(y, state.encoded, value_mask=state.source_mask)
            y = ops.concatenate([context, y], axis=-1)
        return _logits(self.output_projection, weights, y[:, 0]), state._replace(hidden=hidden)


def stepper_for(model, max_length):
    """The stepper that knows how to run `model` one token at a time."""
    decoder = _layer(model, "decoder")
    if decoder is not None and hasattr(decoder, "init_cache"):
        return TransformerStepper(model, max_length)
    if _layer(model, "decoder_gru") is not None:
        return GRUStepper(model, max_length)
    raise ValueError(f"Model {model.name!r} has neither a 'decoder' (TransformerDecoder) nor a "
                     "'decoder_gru' layer; build it with keras_transformer.translation.models.")


def _compile(function, static_argnums=(), jit_compile=False, variables=()):
    """A `tf.function` (XLA if `jit_compile`), a `jax.jit`, or eager. On JAX the `variables` are
    arguments of every call, read through a `keras.StatelessScope`: a function that closed
    over them would keep their values at tracing time, and decode with those after training."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True, jit_compile=bool(jit_compile))
    if backend == "jax":
        import jax

        variables = list(variables)

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function(*args)

        compiled = jax.jit(stateless, static_argnums=tuple(i + 1 for i in static_argnums))
        return lambda *args: compiled([v.value for v in variables], *args)
    return function  # torch, numpy: eager


def _while(cond, body, loop, shrink):
    """`ops.while_loop` over one named loop state; `shrink`: its rows may change in number."""
    if not shrink or keras.backend.backend() != "tensorflow":
        return ops.while_loop(cond, lambda x: (body(x),), (loop,))[0]
    import tensorflow as tf

    relaxed = lambda x: tf.TensorShape([None] * min(len(x.shape), 1) + list(x.shape[1:]))  # noqa: E731
    invariants = (keras.tree.map_structure(relaxed, loop),)
    return tf.while_loop(cond, lambda x: (body(x),), (loop,), shape_invariants=invariants)[0]


def _argmax(scores):  # `(B, V)` -> `(B,)` int32; TensorFlow's own (`keras.ops.argmax` first rewrites -0.0)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.argmax(scores, axis=-1, output_type="int32")
    return ops.cast(ops.argmax(scores, axis=-1), "int32")


def _write_column(tokens, index, column):
    """`tokens[:, index] = column` as a select (no dynamic-update op per step)."""
    here = ops.equal(ops.arange(ops.shape(tokens)[1], dtype="int32"), index)
    return ops.where(ops.expand_dims(here, 0), ops.expand_dims(column, 1), tokens)


def ends(token, end_id):
    """Whether `token` ends a sentence: `[end]`, or a padding id (which the book would print as an empty word).

    The one rule every loop, `to_token_lists` and the exported graph follow.
    """
    return ops.logical_or(ops.equal(token, end_id), ops.equal(token, 0))


def kept_tokens(tokens, end_id):
    """`(B, T)` generated ids -> `(B, T)` booleans: the positions before each row's first end (see `ends`)."""
    return ops.equal(ops.cumsum(ops.cast(ends(tokens, end_id), "int32"), axis=1), 0)


def _top_log_probs(logits, k):
    """Each row's `k` best log-probabilities (logit - logsumexp) and tokens; past the vocabulary, NEG_INF."""
    top_logits, top_tokens = ops.top_k(logits, k=min(k, logits.shape[-1]))
    log_probs, missing = top_logits - ops.logsumexp(logits, axis=-1)[:, None], max(k - logits.shape[-1], 0)
    return (ops.pad(log_probs, [[0, 0], [0, missing]], constant_values=NEG_INF),
            ops.pad(ops.cast(top_tokens, "int32"), [[0, 0], [0, missing]]))


class GreedyLoop(NamedTuple):
    index: object  # the position being generated
    tokens: object  # (B, max_length) output of every sentence, 0 after [end]
    rows: object  # (R,) sentences still in `state` (all of them when none leave)
    last: object  # (R,) their latest token
    done: object  # (R,) which of them have ended
    state: object  # the stepper's state of those R rows


class BeamLoop(NamedTuple):
    index: object
    tokens: object  # (R, max_length) each beam's tokens, R = sentences x beam_size
    scores: object  # (R,) each beam's total log-probability
    lengths: object  # (R,) tokens up to and including [end]
    done: object
    rows: object  # (R,) beams still in `state`, as rows of `final`
    state: object
    final: tuple  # (tokens, scores, lengths) of every beam, where sentences leave; else ()


class Decoder:
    """Greedy and beam-search decoding of a `gru`, `gru-attention` or `transformer` model (seq2seq.py).

    `stepper`: for a model this module does not know (its own layers' weights in
    `variables`). `jit_compile`: XLA on TensorFlow; `"auto"`: below `XLA_MAX_ROWS` rows.
    `skip_finished`: where shapes may change (TensorFlow without XLA, PyTorch),
    finished sentences leave the loop (beam search: once all their beams ended).
    `greedy` and `beam` take `(B, S)` source ids and return `(B, max_length)` ids
    after `[start]`, 0 after `[end]` (or a predicted padding id, which also ends a
    sentence); each compiles once per source shape and setting (`trace_count`).
    """

    def __init__(self, model, start_id, end_id, max_length=20, stepper=None, jit_compile="auto",
                 skip_finished=True):
        self.model = model
        self.start_id, self.end_id, self.max_length = int(start_id), int(end_id), int(max_length)
        self.stepper = stepper or stepper_for(model, self.max_length)
        self.jit_compile, self.skip_finished = jit_compile, bool(skip_finished)
        self.trace_count = 0
        found = {id(v): v for v in [*getattr(model, "variables", ()), *getattr(self.stepper, "variables", ())]}
        self._variables, self._loops = list(found.values()), {}

    def _run(self, loop, source, *settings, beams=1):
        backend, rows = keras.backend.backend(), source.shape[0]
        few = self.jit_compile == "auto" and rows is not None and rows * beams < XLA_MAX_ROWS
        xla = backend == "tensorflow" and (self.jit_compile is True or few)
        # Rows leave a loop only where shapes may change from step to step.
        shrink = self.skip_finished and (backend == "torch" or (backend == "tensorflow" and not xla))
        if (loop, xla, shrink) not in self._loops:
            function = functools.partial(getattr(self, loop), shrink=shrink)
            self._loops[loop, xla, shrink] = _compile(function, range(1, 1 + len(settings)), xla, self._variables)
        return self._loops[loop, xla, shrink](source, *settings)

    def greedy(self, source):
        """The most likely next token at every step, for a whole batch at once."""
        return self._run("_greedy_loop", ops.convert_to_tensor(source, "int32"))

    def beam(self, source, beam_size=4, length_penalty=0.6):
        """The best of `beam_size` beams by `log p / ((5 + length) / 6) ** length_penalty` (GNMT's 0.6;
        0 ranks by log p, which favours short outputs); `beam_size=1` is greedy."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1; got {beam_size}.")
        source = ops.convert_to_tensor(source, "int32")
        return self._run("_beam_loop", source, int(beam_size), float(length_penalty), beams=int(beam_size))

    def _going(self, loop):  # the loops' condition
        return ops.logical_and(loop.index < self.max_length, ops.logical_not(ops.all(loop.done)))

    def _greedy_loop(self, source, shrink):
        self.trace_count += 1  # runs only while tracing
        batch = ops.shape(source)[0]
        weights = self.stepper.weights()

        def body(loop):
            logits, state = self.stepper.step(loop.state, loop.last, loop.index, weights)
            token = ops.where(loop.done, 0, _argmax(logits))  # finished rows emit padding
            column = ops.scatter(ops.expand_dims(loop.rows, 1), token, (batch,)) if shrink else token
            done = ops.logical_or(loop.done, ends(token, self.end_id))
            loop = GreedyLoop(loop.index + 1, _write_column(loop.tokens, loop.index, column), loop.rows,
                              token, done, state)
            if not shrink:
                return loop
            # Finished rows leave: at batch 256, 2.38 ms a sentence against 3.64 keeping every row
            # (-35%; at 64, 3.48 against 3.89; bench_decode.py in docs/benchmarks.md, 2026-12-02).
            drop = lambda: _take(loop[2:], ops.cast(ops.nonzero(ops.logical_not(done))[0], "int32"))  # noqa: E731
            return ops.cond(ops.any(done), lambda: GreedyLoop(loop.index, loop.tokens, *drop()), lambda: loop)

        start = GreedyLoop(ops.convert_to_tensor(0, "int32"), ops.zeros((batch, self.max_length), "int32"),
                           ops.arange(batch, dtype="int32"), ops.full((batch,), self.start_id, "int32"),
                           ops.zeros((batch,), "bool"), self.stepper.encode(source))
        return _while(self._going, body, start, shrink).tokens

    def _beam_loop(self, source, beam_size, length_penalty, shrink):
        self.trace_count += 1
        k, batch = beam_size, ops.shape(source)[0]
        weights = self.stepper.weights()
        shared = getattr(self.stepper, "beam_shared", ())
        # The encoder and the first step run once per sentence; its k best tokens start the beams.
        first_logits, state = self.stepper.step(self.stepper.encode(source), ops.full((batch,), self.start_id, "int32"),
                                                ops.convert_to_tensor(0, "int32"), weights)
        scores, first = (ops.reshape(x, (-1,)) for x in _top_log_probs(first_logits, k))
        state = _take(state, ops.repeat(ops.arange(batch, dtype="int32"), k))
        tokens = _write_column(ops.zeros((batch * k, self.max_length), "int32"), 0, first)
        lengths = ops.ones((batch * k,), "int32")
        start = BeamLoop(ops.convert_to_tensor(1, "int32"), tokens, scores, lengths, ends(first, self.end_id),
                         ops.arange(batch * k, dtype="int32"), state, (tokens, scores, lengths) if shrink else ())

        def body(loop):
            logits, state = self.stepper.step(loop.state, ops.take(loop.tokens, loop.index - 1, axis=1), loop.index,
                                              weights)
            log_probs, top = _top_log_probs(logits, k)
            # A finished beam continues once, with padding, at no cost.
            done = ops.expand_dims(loop.done, 1)
            log_probs = ops.where(done, ops.where(ops.arange(k) == 0, 0.0, NEG_INF)[None, :], log_probs)
            top = ops.where(done, 0, top)
            # The best k continuations of a sentence's k beams are among each beam's own best k.
            best, pick = ops.top_k(ops.reshape(ops.expand_dims(loop.scores, 1) + log_probs, (-1, k * k)), k=k)
            pick = ops.reshape(ops.cast(pick, "int32"), (-1,))
            parent = ops.arange(ops.shape(pick)[0], dtype="int32") // k * k + pick // k
            token = ops.take(ops.reshape(top, (-1,)), parent * k + pick % k, axis=0)
            state = state._replace(**{f: _take(getattr(state, f), parent) for f in state._fields if f not in shared})
            was_done = ops.take(loop.done, parent, axis=0)
            loop = BeamLoop(loop.index + 1, _write_column(ops.take(loop.tokens, parent, axis=0), loop.index, token),
                            ops.reshape(best, (-1,)),
                            ops.take(loop.lengths, parent, axis=0) + ops.cast(ops.logical_not(was_done), "int32"),
                            ops.logical_or(was_done, ends(token, self.end_id)), loop.rows, state, loop.final)
            if not shrink:
                return loop
            rows = ops.expand_dims(loop.rows, 1)
            final = tuple(ops.scatter_update(x, rows, y) for x, y in zip(loop.final, loop[1:4]))
            ended = ops.all(ops.reshape(loop.done, (-1, k)), axis=1)

            def drop():  # the sentences whose every beam ended leave
                kept = ops.cast(ops.nonzero(ops.logical_not(ended))[0], "int32")
                keep = ops.reshape(ops.expand_dims(kept * k, 1) + ops.arange(k, dtype="int32"), (-1,))
                return BeamLoop(loop.index, *_take(tuple(loop[1:7]), keep), final)

            return ops.cond(ops.any(ended), drop, lambda: loop._replace(final=final))

        end = _while(self._going, body, start, shrink)
        tokens, scores, lengths = end.final if shrink else (end.tokens, end.scores, end.lengths)
        normalized = scores / ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, length_penalty)
        best = ops.cast(ops.argmax(ops.reshape(normalized, (batch, k)), axis=1), "int32")
        return ops.take(tokens, best + ops.arange(batch, dtype="int32") * k, axis=0)


def decode_by_length(run, source, batch_size=256, width_multiple=4, fixed_batch=False):
    """`run` (e.g. `Decoder(...).greedy`) over `(N, S)` ids in batches sorted by source length: short
    sentences share batches, which stop early; each is cut to its longest source rounded up to
    `width_multiple` (few shapes; padding changes no output). `fixed_batch`: a smaller batch is
    filled up to `batch_size` rows with copies of its first sentence (they end with it), so that a
    compiled loop serves every batch of a width. `N` outputs, in input order."""
    source = np.asarray(ops.convert_to_numpy(source))
    lengths = np.sum(source != 0, axis=1)
    order = np.argsort(lengths, kind="stable")
    results = [None] * len(source)
    for begin in range(0, len(source), batch_size):
        rows = order[begin : begin + batch_size]
        width = -(-max(int(lengths[rows].max(initial=0)), 1) // width_multiple) * width_multiple
        batch = source[rows, : min(width, source.shape[1])]
        if fixed_batch and len(rows) < batch_size:
            batch = np.concatenate([batch, np.repeat(batch[:1], batch_size - len(rows), axis=0)])
        outputs = run(batch)
        for row, output in zip(rows, outputs if isinstance(outputs, list) else ops.convert_to_numpy(outputs)):
            results[row] = output
    return results


def to_token_lists(tokens, end_id):
    """`(B, T)` generated ids -> one list of ids per row, up to its end (see `ends`)."""
    keep = ops.convert_to_numpy(kept_tokens(tokens, end_id))
    return [row[kept].tolist() for row, kept in zip(ops.convert_to_numpy(tokens), keep)]
