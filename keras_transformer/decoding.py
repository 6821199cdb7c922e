"""Fast decoding for the chapter's translators: cached, compiled, batched.

The book translates one sentence at a time and re-runs the whole model on the
whole prefix at every step. Here the encoder runs once per batch, the
decoder's self-attention keys/values live in a fixed-size cache updated in
place (static shapes, so the loop compiles once per input shape), the
cross-attention keys/values are projected once, and the loop stops as soon as
every sentence has produced `[end]`.

    decoder = Decoder(model, start_id=2, end_id=3, max_length=20)
    tokens = decoder.greedy(source_tokens)              # (B, max_length)
    tokens = decoder.beam(source_tokens, beam_size=4)   # (B, max_length)
    rows = decode_by_length(decoder.greedy, many_sources, batch_size=256)

A model is decoded through a *stepper*: `encode(source) -> state` and
`step(state, token, index) -> (scores, state)`, where `scores` are logits or
log-probabilities over the target vocabulary (anything whose log-softmax is
the log-probabilities; greedy takes their argmax, beam search their
log-softmax). A state is a tuple of tensors (or nested tuples of them).
An optional `reorder(state, parent)` picks the state rows of the surviving
beams, and `select(state, rows)` keeps the rows of the sentences still
generating (by default every state tensor is gathered for both). A stepper
whose layers are not the model's lists their weights in `variables`.
Where the backend allows shapes that change from step to step (TensorFlow
without XLA, PyTorch), finished sentences leave the state: later steps run
the decoder and the output layer (256 x 15,000 for the chapter's
Transformer, the largest matrix product of a step) on the live rows only.
`TransformerStepper` and `GRUStepper` cover the chapter's three models; greedy
and beam search are written once on top of them.

The chapter's models end in a softmax layer. The steppers skip it and take
the output layer's logits (one matrix product with the kernel already in the
compute dtype): greedy needs only their argmax, which the softmax does not
change, and beam search takes a float32 log-softmax of them.
"""

import functools

import keras
from keras import ops

from keras_transformer.layers.attention import head_projections, using_head_projections

NEG_INF = -1e9
# Batches smaller than this score every row (see Decoder's skip_finished).
SKIP_FINISHED_MIN_ROWS = 16
# Where shapes may change, a Transformer batch is encoded in groups of
# sentences of similar length, up to this many, of at least ENCODE_GROUP_ROWS.
ENCODE_GROUPS = 4
ENCODE_GROUP_ROWS = 64


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _log_probs(probabilities):
    # Log of a clipped probability: for an output layer whose activation is
    # neither softmax nor linear, so its logits cannot be taken directly.
    return ops.log(ops.maximum(ops.cast(probabilities, "float32"), 1e-30))


class _OutputLogits:
    """The output layer as logits: `x @ kernel + bias`, softmax skipped.

    `constants()` casts the kernel and bias to the layer's compute dtype once
    per decoding call (not once per step); they ride along in the loop state.
    """

    def __init__(self, layer):
        self.layer = layer
        name = getattr(layer.activation, "__name__", "")
        self.direct = name in ("softmax", "linear") and getattr(layer, "kernel", None) is not None

    @property
    def count(self):
        """How many tensors `constants()` returns."""
        return 2 if self.direct else 0

    def constants(self):
        if not self.direct:
            return ()
        dtype = self.layer.compute_dtype
        bias = self.layer.bias if self.layer.use_bias else ops.zeros((self.layer.units,))
        return (ops.cast(self.layer.kernel, dtype), ops.cast(bias, dtype))

    def __call__(self, x, constants):
        """`(B, D)` -> `(B, vocab)` float32 scores (logits, or log-probabilities)."""
        if not self.direct:
            return _log_probs(self.layer(x))
        kernel, bias = constants
        return ops.cast(ops.matmul(ops.cast(x, kernel.dtype), kernel) + bias, "float32")


class _Stepper:
    """What the steppers share: `step` = `features` then `scores`, `repeat`, `select`.

    A state is a tuple whose leading entries (tensors or nested tuples of
    them) have one row per sentence; the last `constant_count` entries
    (the output layer's weights, and for the Transformer its attention
    projections) are the same for every row.
    """

    def step(self, state, token, index):
        features, state = self.features(state, token, index)
        return self.scores(features, state), state

    @property
    def constant_count(self):
        """How many entries at the end of a state are the same for every row."""
        return self.logits.count

    def _map_rows(self, function, state):
        rows = len(state) - self.constant_count
        return keras.tree.map_structure(function, tuple(state[:rows])) + tuple(state[rows:])

    def repeat(self, state, times):
        """Each sentence's state `times` times in a row (beams of one sentence)."""
        return self._map_rows(lambda x: ops.repeat(x, times, axis=0), state)

    def select(self, state, rows):
        """The state of the sentences at `rows` only (finished ones dropped)."""
        return self._map_rows(lambda x: ops.take(x, rows, axis=0), state)


class TransformerStepper(_Stepper):
    """Step-by-step view of a `transformer` translation model (seq2seq.py names)."""

    def __init__(self, model, max_length):
        self.source_embedding = model.get_layer("source_embedding")
        self.encoder = model.get_layer("encoder")
        self.target_embedding = model.get_layer("target_embedding")
        self.decoder = model.get_layer("decoder")
        self.output_projection = model.get_layer("output_projection")
        self.logits = _OutputLogits(self.output_projection)
        self.max_length = max_length

    @property
    def attention_layers(self):
        """The decoder's attention layers, whose head projections the state carries as matrices."""
        layers = [self.decoder.self_attention]
        if getattr(self.decoder, "has_cross_attention", False):
            layers.append(self.decoder.cross_attention)
        return layers

    @property
    def constant_count(self):
        return self.logits.count + 1

    def encode(self, source, groups=1):
        """State: (self-attention cache, cross-attention cache, source mask, output weights..., projections).

        The last entry holds the decoder's attention projections as 2-D
        matrices (`head_projections`), made once per decoding call.

        `groups > 1` (backends whose shapes may change, TensorFlow without
        XLA and PyTorch): the sentences, sorted by length, are encoded in
        that many groups, each cut to its own longest source, so one long
        sentence does not widen the whole batch's encoder.
        """
        source_mask = ops.not_equal(source, 0)
        if groups > 1:
            encoded = self._encode_in_groups(source, source_mask, groups)
        else:
            encoded = self.encoder(self.source_embedding(source), padding_mask=source_mask)
        batch = ops.shape(source)[0]
        return (
            self.decoder.init_cache(batch, self.max_length, split=True),
            self.decoder.compute_cross_attention_cache(encoded, split=True),
            source_mask,
        ) + self.logits.constants() + (head_projections(self.attention_layers),)

    def _encode_in_groups(self, source, source_mask, groups):
        lengths = ops.sum(ops.cast(source_mask, "int32"), axis=1)
        order = ops.cast(ops.argsort(lengths), "int32")
        count, width = ops.shape(source)[0], ops.shape(source)[1]
        pieces = []
        for group in range(groups):
            rows = order[group * count // groups : (group + 1) * count // groups]
            cut = ops.max(ops.take(lengths, rows, axis=0), initial=1)
            part = ops.take(source, rows, axis=0)[:, :cut]
            encoded = self.encoder(self.source_embedding(part), padding_mask=ops.not_equal(part, 0))
            # Padding positions past the cut: zeros, masked out of cross-attention.
            pieces.append(ops.pad(encoded, [[0, 0], [0, width - cut], [0, 0]]))
        return ops.take(ops.concatenate(pieces, axis=0), ops.argsort(order), axis=0)

    def scores(self, features, state):
        """`(B, D)` decoder outputs of a step -> `(B, vocab)` float32 scores."""
        return self.logits(features, state[3 : 3 + self.logits.count])

    def features(self, state, token, index):
        """One step up to the output layer: `((B, D) features, new state)`."""
        self_cache, cross_cache, source_mask = state[:3]
        x = self.target_embedding(ops.expand_dims(token, 1), start_index=index)
        with using_head_projections(self.attention_layers, state[-1]):
            x, self_cache, cross_cache = self.decoder(
                x,
                None,
                encoder_outputs_mask=source_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
            )
        return x[:, 0], (self_cache, cross_cache, source_mask) + tuple(state[3:])

    def reorder(self, state, parent):
        # Only the self-attention cache differs between the beams of one
        # sentence; its cross-attention cache and mask are the same for all.
        return (keras.tree.map_structure(lambda x: ops.take(x, parent, axis=0), state[0]),) + tuple(state[1:])


class GRUStepper(_Stepper):
    """Step-by-step view of the `gru` and `gru-attention` models.

    The GRU decoder's state is its cache: one step of the layer on a
    length-1 sequence from the previous state gives the next state, which is
    also the step's output.
    """

    def __init__(self, model, max_length):
        self.source_embedding = model.get_layer("source_embedding")
        self.encoder = model.get_layer("encoder")
        self.target_embedding = model.get_layer("target_embedding")
        self.decoder_gru = model.get_layer("decoder_gru")
        self.attention = _layer(model, "attention")
        self.output_projection = model.get_layer("output_projection")
        self.logits = _OutputLogits(self.output_projection)
        self.max_length = max_length

    def encode(self, source):
        """State: (hidden, output weights...) or (hidden, encoder states, source mask, output weights...)."""
        source_mask = ops.not_equal(source, 0)
        embedded = self.source_embedding(source)
        if self.attention is None:
            state = (self.encoder(embedded, mask=source_mask),)
        else:
            states, forward_state, backward_state = self.encoder(embedded, mask=source_mask)
            state = (forward_state + backward_state, states, source_mask)
        return state + self.logits.constants()

    def scores(self, features, state):
        """`(B, D)` decoder outputs of a step -> `(B, vocab)` float32 scores."""
        return self.logits(features, state[1:] if self.attention is None else state[3:])

    def features(self, state, token, index):
        """One step up to the output layer: `((B, D) features, new state)`."""
        hidden = state[0]
        y = self.target_embedding(ops.expand_dims(token, 1))
        y = self.decoder_gru(y, initial_state=hidden)
        hidden = y[:, -1]
        if self.attention is not None:
            states, source_mask = state[1], state[2]
            context = self.attention(y, states, value_mask=source_mask)
            y = ops.concatenate([context, y], axis=-1)
        return y[:, 0], (hidden,) + tuple(state[1:])

    def reorder(self, state, parent):
        return (ops.take(state[0], parent, axis=0),) + tuple(state[1:])


def stepper_for(model, max_length):
    """The stepper that knows how to run `model` one token at a time."""
    decoder = _layer(model, "decoder")
    if decoder is not None and hasattr(decoder, "init_cache"):
        return TransformerStepper(model, max_length)
    if _layer(model, "decoder_gru") is not None:
        return GRUStepper(model, max_length)
    raise ValueError(
        f"Model {model.name!r} has neither a 'decoder' (TransformerDecoder) nor a "
        "'decoder_gru' layer; build it with keras_transformer.models.seq2seq."
    )


def _compile(function, static_argnums=(), jit_compile=False, variables=()):
    """Compile once per input shape with the backend's own compiler.

    On TensorFlow the loop is a `tf.function`; `jit_compile=True` also hands
    it to XLA (on JAX, XLA always compiles it). On JAX, `variables` (the
    model's) are passed to the compiled function at every call and read
    through a `keras.StatelessScope`: a function that merely closed over
    them would keep the values they had when it was first traced, and go on
    decoding with those after the model is trained further or loaded anew.
    """
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


def _argmax(scores):
    """Index of each row's largest score, `(B, V)` -> `(B,)` int32.

    The backend's own argmax: `keras.ops.argmax` first rewrites every -0.0
    in the input (three more passes over a `(B, 15,000)` tensor at every
    step), which cannot change which logit is largest here.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.argmax(scores, axis=-1, output_type="int32")
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.argmax(scores, axis=-1).astype("int32")
    return ops.cast(ops.argmax(scores, axis=-1), "int32")


def _write_column(tokens, index, column):
    """`tokens[:, index] = column` as a select (no dynamic-update op per step)."""
    here = ops.equal(ops.arange(ops.shape(tokens)[1], dtype="int32"), index)
    return ops.where(ops.expand_dims(here, 0), ops.expand_dims(column, 1), tokens)


def _while_varying_rows(cond, body, loop_vars):
    """`ops.while_loop` whose tensors may change their first dimension."""
    if keras.backend.backend() != "tensorflow":
        return ops.while_loop(cond, body, loop_vars)  # torch: a Python loop
    import tensorflow as tf

    def relaxed(x):
        shape = tf.TensorShape(x.shape)
        return shape if shape.rank == 0 else tf.TensorShape([None]).concatenate(shape[1:])

    return tf.while_loop(cond, body, loop_vars, shape_invariants=keras.tree.map_structure(relaxed, loop_vars))


def _top_log_probs(logits, k):
    """Each row's `k` best log-probabilities and their tokens, from logits.

    log-probability = logit - logsumexp(row): only the `k` winners are
    normalized, never a whole `(rows, vocab)` log-softmax.
    """
    top_logits, top_tokens = ops.top_k(logits, k=k)
    return top_logits - ops.expand_dims(ops.logsumexp(logits, axis=-1), 1), top_tokens


def _ends(token, end_id):
    # `[end]` ends a sentence; so does a predicted padding id, which the
    # book's loop would turn into an empty word.
    return ops.logical_or(ops.equal(token, end_id), ops.equal(token, 0))


def _gather_beams(tree, indices):
    return keras.tree.map_structure(lambda x: ops.take(x, indices, axis=0), tuple(tree))


class Decoder:
    """Greedy and beam-search decoding of a trained translation model.

    Args:
        model: a `gru`, `gru-attention` or `transformer` model from
            `keras_transformer.models.seq2seq`.
        start_id, end_id: token ids of `[start]` and `[end]`.
        max_length: the most tokens generated after `[start]`.
        stepper: an object with `encode` and `step` (see above) to decode a
            model this module does not know; by default one is picked by
            the model's layer names.
        jit_compile: on TensorFlow, also compile the loop with XLA. `"auto"`
            (default) does where it was measured to help on this project's
            CPU (docs/benchmarks.md): loops over fewer than
            `SKIP_FINISHED_MIN_ROWS` rows (sentences, or sentences x beams);
            larger ones run without XLA and drop finished sentences. True or
            False forces one way.
        skip_finished: drop finished sentences from the loop's state (greedy:
            a sentence that produced `[end]`; beam search: a sentence whose
            every beam did), so later steps run on the live rows only.
            `"auto"` (default): where the backend runs loops with changing
            shapes (TensorFlow without XLA, PyTorch); JAX and XLA compile
            static shapes only, so there every row runs every step. Loops
            over fewer than `SKIP_FINISHED_MIN_ROWS` rows always keep every
            row (gathering rows costs more than it saves there).

    `greedy` and `beam` take `(B, S)` source token ids and return `(B,
    max_length)` generated ids (after `[start]`; 0 after `[end]` or after a
    predicted padding id, which also ends a sentence). Each is
    compiled once per source shape (and beam settings) and reused;
    `trace_count` counts compilations.
    """

    def __init__(self, model, start_id, end_id, max_length=20, stepper=None, jit_compile="auto",
                 skip_finished="auto"):
        self.model = model
        self.start_id = int(start_id)
        self.end_id = int(end_id)
        self.max_length = int(max_length)
        self.stepper = stepper or stepper_for(model, self.max_length)
        backend = keras.backend.backend()
        auto = jit_compile == "auto"
        if skip_finished == "auto":
            skip_finished = (backend == "tensorflow" and (auto or not jit_compile)) or backend == "torch"
        self.skip_finished = bool(skip_finished)
        self.trace_count = 0
        # Each loop is compiled with or without XLA; without, it may drop
        # finished sentences (changing shapes), which XLA cannot compile.
        xla_greedy = False if auto else bool(jit_compile)
        # On JAX the model's weights are arguments of the compiled loops (see _compile).
        compile_loop = functools.partial(_compile, variables=self._variables())
        self._greedy = compile_loop(functools.partial(self._greedy_loop, dropping=not xla_greedy), jit_compile=xla_greedy)
        # TensorFlow's "auto": XLA's fused loop for a few rows, for both searches.
        few = auto and backend == "tensorflow"
        self._greedy_few = (
            compile_loop(functools.partial(self._greedy_loop, dropping=False), jit_compile=True) if few else None
        )
        xla_beam = (not self.skip_finished) if auto else bool(jit_compile)
        self._beam = compile_loop(
            functools.partial(self._beam_loop, dropping=not xla_beam), static_argnums=(1, 2), jit_compile=xla_beam
        )
        self._beam_few = (
            compile_loop(functools.partial(self._beam_loop, dropping=False), static_argnums=(1, 2), jit_compile=True)
            if few and self.skip_finished
            else None
        )

    def _variables(self):
        """The weights the loops read: the model's, and a custom stepper's own (`variables`)."""
        found = {id(v): v for v in self.model.variables}
        for v in getattr(self.stepper, "variables", ()):
            found.setdefault(id(v), v)
        return list(found.values())

    # -- greedy -------------------------------------------------------------
    def greedy(self, source):
        """Most likely next token at every step, for a whole batch at once."""
        source = ops.convert_to_tensor(source, "int32")
        if self._greedy_few is not None and source.shape[0] < SKIP_FINISHED_MIN_ROWS:
            return self._greedy_few(source)
        return self._greedy(source)

    def _drops(self, source, dropping, beam_size=1):
        """Whether this loop drops finished sentences: it may (not XLA), the
        decoder does (`skip_finished`), and it has enough rows for it to pay."""
        rows = source.shape[0]
        return dropping and self.skip_finished and (rows is None or rows * beam_size >= SKIP_FINISHED_MIN_ROWS)

    def _encode(self, source, drops):
        # Where finished sentences are dropped (shapes may change), the
        # Transformer's encoder runs on groups of sentences of similar length,
        # each cut to its own longest source: a batch's longest sentence no
        # longer widens all of it (docs/benchmarks.md). A batch whose size is
        # only known at run time gets ENCODE_GROUPS groups.
        rows = source.shape[0]
        groups = ENCODE_GROUPS if rows is None else min(ENCODE_GROUPS, rows // ENCODE_GROUP_ROWS)
        if drops and groups > 1 and isinstance(self.stepper, TransformerStepper):
            return self.stepper.encode(source, groups=groups)
        return self.stepper.encode(source)

    def _greedy_loop(self, source, dropping=True):
        self.trace_count += 1  # runs only while tracing
        batch = ops.shape(source)[0]
        tokens = ops.zeros((batch, self.max_length + 1), "int32")
        tokens = _write_column(tokens, 0, ops.full((batch,), self.start_id, "int32"))
        index = ops.convert_to_tensor(0, "int32")
        drops = self._drops(source, dropping)
        state = self._encode(source, drops)
        if drops:
            return self._greedy_dropping_finished(batch, index, tokens, state)

        def cond(index, tokens, done, state):
            return ops.logical_and(index < self.max_length, ops.logical_not(ops.all(done)))

        def body(index, tokens, done, state):
            scores, state = self.stepper.step(state, ops.take(tokens, index, axis=1), index)
            # Finished rows emit padding and no longer matter.
            next_token = ops.where(done, 0, _argmax(scores))
            tokens = _write_column(tokens, index + 1, next_token)
            done = ops.logical_or(done, _ends(next_token, self.end_id))
            return index + 1, tokens, done, state

        done = ops.zeros((batch,), "bool")
        _, tokens, _, _ = ops.while_loop(cond, body, (index, tokens, done, state))
        return tokens[:, 1:]

    def _greedy_dropping_finished(self, batch, index, tokens, state):
        """Greedy decoding whose state holds only the sentences still generating.

        `live` lists the batch rows of the state's rows. After a step in which
        some sentence ended, its rows leave the state (caches included), so
        the decoder layer and the output layer of later steps run on fewer
        rows. Needs loops whose shapes may change between steps (TensorFlow
        without XLA, PyTorch).
        """
        select = getattr(self.stepper, "select", _gather_beams)

        def cond(index, tokens, live, state):
            return ops.logical_and(index < self.max_length, ops.greater(ops.shape(live)[0], 0))

        def body(index, tokens, live, state):
            current = ops.take(ops.take(tokens, index, axis=1), live, axis=0)
            scores, state = self.stepper.step(state, current, index)
            best = _argmax(scores)
            # Rows that left the state get 0 (padding) after their `[end]`.
            tokens = _write_column(tokens, index + 1, ops.scatter(ops.expand_dims(live, 1), best, (batch,)))
            ended = _ends(best, self.end_id)

            def drop():
                keep = ops.cast(ops.nonzero(ops.logical_not(ended))[0], "int32")
                return ops.take(live, keep, axis=0), select(state, keep)

            live, state = ops.cond(ops.any(ended), drop, lambda: (live, state))
            return index + 1, tokens, live, state

        live = ops.arange(batch, dtype="int32")
        _, tokens, _, _ = _while_varying_rows(cond, body, (index, tokens, live, state))
        return tokens[:, 1:]

    # -- beam search --------------------------------------------------------
    def beam(self, source, beam_size=4, length_penalty=0.6):
        """Beam search; the best beam by `log p / ((5 + length) / 6) ** length_penalty`.

        `length_penalty=0` ranks by total log-probability (which favours short
        outputs); the default 0.6 is the GNMT setting. `beam_size=1` is greedy.
        """
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1; got {beam_size}.")
        source = ops.convert_to_tensor(source, "int32")
        if self._beam_few is not None and source.shape[0] * beam_size < SKIP_FINISHED_MIN_ROWS:
            return self._beam_few(source, int(beam_size), float(length_penalty))
        return self._beam(source, int(beam_size), float(length_penalty))

    def _beam_loop(self, source, beam_size, length_penalty, dropping=True):
        self.trace_count += 1
        batch = ops.shape(source)[0]
        flat = batch * beam_size
        # The encoder and the first step run once per sentence: every beam
        # starts from `[start]` on the same encoding, and the first step's
        # best `beam_size` tokens become the beams.
        drops = self._drops(source, dropping, beam_size)
        state = self._encode(source, drops)
        logits, state = self.stepper.step(
            state, ops.full((batch,), self.start_id, "int32"), ops.convert_to_tensor(0, "int32")
        )
        scores, top_tokens = _top_log_probs(logits, beam_size)
        scores = ops.reshape(scores, (flat,))
        first_token = ops.reshape(ops.cast(top_tokens, "int32"), (flat, 1))
        if hasattr(self.stepper, "repeat"):
            state = self.stepper.repeat(state, beam_size)
        else:  # a stepper whose whole state is per row
            state = _gather_beams(state, ops.repeat(ops.arange(batch, dtype="int32"), beam_size))
        tokens = ops.zeros((flat, self.max_length + 1), "int32")
        tokens = _write_column(tokens, 0, ops.full((flat,), self.start_id, "int32"))
        tokens = _write_column(tokens, 1, first_token[:, 0])
        done = _ends(first_token[:, 0], self.end_id)
        lengths = ops.ones((flat,), "int32")
        index = ops.convert_to_tensor(1, "int32")
        if drops:
            tokens, scores, lengths = self._beam_dropping_finished(
                index, tokens, scores, done, lengths, state, beam_size
            )
        else:

            def cond(index, tokens, scores, done, lengths, state):
                return ops.logical_and(index < self.max_length, ops.logical_not(ops.all(done)))

            def body(index, tokens, scores, done, lengths, state):
                return (index + 1,) + self._beam_step(index, tokens, scores, done, lengths, state, batch, beam_size)

            _, tokens, scores, done, lengths, _ = ops.while_loop(
                cond, body, (index, tokens, scores, done, lengths, state)
            )
        penalty = ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, length_penalty)
        normalized = ops.reshape(scores / penalty, (batch, beam_size))
        best = ops.cast(ops.argmax(normalized, axis=1), "int32") + ops.arange(batch, dtype="int32") * beam_size
        return ops.take(tokens, best, axis=0)[:, 1:]

    def _beam_step(self, index, tokens, scores, done, lengths, state, sentences, beam_size):
        """One step of `sentences` sentences' beams (`beam_size` rows each, in a row)."""
        flat = sentences * beam_size
        logits, state = self.stepper.step(state, ops.take(tokens, index, axis=1), index)
        # The best `beam_size` continuations of all beams of a sentence are
        # among each beam's own best `beam_size`.
        log_probs, top_tokens = _top_log_probs(logits, beam_size)
        # A finished beam continues with padding at no cost, once.
        first = ops.arange(beam_size) == 0
        log_probs = ops.where(ops.expand_dims(done, 1), ops.where(first, 0.0, NEG_INF)[None, :], log_probs)
        top_tokens = ops.where(ops.expand_dims(done, 1), 0, ops.cast(top_tokens, "int32"))
        candidates = ops.reshape(ops.expand_dims(scores, 1) + log_probs, (sentences, beam_size * beam_size))
        top_scores, top_index = ops.top_k(candidates, k=beam_size)
        top_index = ops.reshape(ops.cast(top_index, "int32"), (flat,))
        row_offsets = ops.repeat(ops.arange(sentences, dtype="int32") * beam_size, beam_size)
        parent = top_index // beam_size + row_offsets
        next_token = ops.take(ops.reshape(top_tokens, (flat * beam_size,)),
                              parent * beam_size + top_index % beam_size, axis=0)
        tokens = _write_column(ops.take(tokens, parent, axis=0), index + 1, next_token)
        state = getattr(self.stepper, "reorder", _gather_beams)(state, parent)
        was_done = ops.take(done, parent, axis=0)
        lengths = ops.take(lengths, parent, axis=0) + ops.cast(ops.logical_not(was_done), "int32")
        done = ops.logical_or(was_done, _ends(next_token, self.end_id))
        return tokens, ops.reshape(top_scores, (flat,)), done, lengths, state

    def _beam_dropping_finished(self, index, tokens, scores, done, lengths, state, beam_size):
        """The beam loop whose state holds only the sentences with a beam still going.

        As in greedy decoding: when every beam of a sentence has ended, the
        sentence's rows leave the state; its tokens, scores and lengths are
        kept in `final`, written at every step for the rows still there.
        Returns `(tokens, scores, lengths)` of every row.
        """
        select = getattr(self.stepper, "select", _gather_beams)
        beams = ops.arange(beam_size, dtype="int32")

        def cond(index, local, live, state, final):
            return ops.logical_and(index < self.max_length, ops.greater(ops.shape(live)[0], 0))

        def body(index, local, live, state, final):
            sentences = ops.shape(live)[0] // beam_size
            *local, state = self._beam_step(index, *local, state, sentences, beam_size)
            rows = ops.expand_dims(live, 1)
            final = tuple(ops.scatter_update(x, rows, y) for x, y in zip(final, (local[0], local[1], local[3])))
            ended = ops.all(ops.reshape(local[2], (sentences, beam_size)), axis=1)

            def drop():
                kept = ops.cast(ops.nonzero(ops.logical_not(ended))[0], "int32")
                keep = ops.reshape(ops.expand_dims(kept * beam_size, 1) + beams, (-1,))
                return tuple(ops.take(x, keep, axis=0) for x in local), ops.take(live, keep, axis=0), select(state, keep)

            local, live, state = ops.cond(ops.any(ended), drop, lambda: (tuple(local), live, state))
            return index + 1, local, live, state, final

        live = ops.arange(ops.shape(tokens)[0], dtype="int32")
        local = (tokens, scores, done, lengths)
        _, _, _, _, final = _while_varying_rows(cond, body, (index, local, live, state, (tokens, scores, lengths)))
        return final


def full_recompute_greedy(model, source, start_id, end_id, max_length=20):
    """The book's algorithm, batched: re-run the whole model on the whole prefix.

    The reference that the cached decoder must match token for token.
    Returns `(B, max_length)` ids, 0 after `[end]`.
    """
    source = ops.convert_to_numpy(source).astype("int64")
    import numpy as np

    batch = source.shape[0]
    tokens = np.zeros((batch, max_length + 1), "int64")
    tokens[:, 0] = start_id
    done = np.zeros(batch, bool)
    for index in range(max_length):
        probabilities = model({"english": source, "spanish": tokens[:, :-1]}, training=False)
        next_token = np.argmax(ops.convert_to_numpy(probabilities)[:, index], axis=-1)
        next_token = np.where(done, 0, next_token)
        tokens[:, index + 1] = next_token
        done |= (next_token == end_id) | (next_token == 0)
        if done.all():
            break
    return tokens[:, 1:].astype("int32")


def decode_by_length(run, source, batch_size=256, width_multiple=4, workers=1):
    """Decode many sentences in batches of similar length; results in input order.

    A batch decodes until its longest translation ends, and its encoder and
    cross-attention work on its longest source. Sorting the sentences by
    source length first puts short sentences (short translations) together,
    so most batches stop early and run on narrow sources. Each batch's
    source is cut to its longest row, rounded up to a multiple of
    `width_multiple` (few distinct shapes, so few compilations); padding
    columns change no output (the source padding mask).

    Args:
        run: a batch decoder, e.g. `Decoder(...).greedy`: `(B, S)` ids ->
            `(B, T)` ids or a list of `B` outputs.
        source: `(N, S)` source ids (0 = padding).
        batch_size: sentences per batch.
        width_multiple: batch widths are rounded up to a multiple of this.
        workers: batches decoded at the same time, each from its own
            thread. A decoding step is a chain of small operations that
            leaves cores idle between its matrix products; a second batch
            in flight fills them (on this project's 2-core CPU, 2 workers
            decoded the whole test split in 0.96 ms a sentence against
            1.19; docs/benchmarks.md). `run` must be safe to call from
            several threads (compiled decoders are).

    Returns a list of `N` outputs (rows of `run`'s result), in `source`'s order.

    Example::

        rows = decode_by_length(decoder.greedy, source_ids, batch_size=256)
    """
    import numpy as np

    source = np.asarray(ops.convert_to_numpy(source))
    lengths = np.sum(source != 0, axis=1)
    order = np.argsort(lengths, kind="stable")
    batches = [order[begin : begin + batch_size] for begin in range(0, len(source), batch_size)]

    def decode(rows):
        width = max(int(lengths[rows].max(initial=0)), 1)
        width = min(-(-width // width_multiple) * width_multiple, source.shape[1])
        outputs = run(source[rows, :width])
        return outputs if isinstance(outputs, list) else list(ops.convert_to_numpy(outputs))

    if workers > 1 and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            decoded = list(pool.map(decode, batches))
    else:
        decoded = [decode(rows) for rows in batches]
    results = [None] * len(source)
    for rows, outputs in zip(batches, decoded):
        for row, output in zip(rows, outputs):
            results[row] = output
    return results


def to_token_lists(tokens, end_id):
    """`(B, T)` generated ids -> one list of ids per row, up to `[end]` or padding."""
    rows = []
    for row in ops.convert_to_numpy(tokens).tolist():
        out = []
        for token in row:
            if token == end_id or token == 0:
                break
            out.append(int(token))
        rows.append(out)
    return rows
