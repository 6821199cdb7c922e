"""A translator: the two vectorizers and a sequence-to-sequence model, as one object.

Raw text in, text out, as the chapter's last step does it::

    translator = Translator(model, source_vec, target_vec)
    translator.translate(["Where is the cafe?"])   # ["dónde está el café"]
    translator.evaluate(test_pairs)                # accuracy two ways, BLEU, chrF
    translator.save("output/translator")
    same = Translator.load("output/translator")    # identical translations

Decoding is the book's greedy loop, token for token, run by the cached and
compiled :class:`keras_transformer.translation.decoding.Decoder` (the encoder
once, the decoder one step at a time); beam search is the other choice. The
vocabularies are either kind of ``translation.vocabulary`` (the book's words or
subword pieces): the translator calls the same methods on both.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_transformer.layers.text import END_TOKEN
from keras_transformer.training.files import replace_atomically
from keras_transformer.translation.decoding import Decoder, decode_by_length, to_token_lists
from keras_transformer.translation.pairs import wrap_target
from keras_transformer.translation.scoring import next_token_accuracies, translation_scores
from keras_transformer.translation.vocabulary import prepare_reference, vocabulary_from_state

logger = logging.getLogger(__name__)

_MODEL_FILE = "model.keras"
_META_FILE = "translator.json"


def _cross_attention_layer(model):
    names = {layer.name for layer in model.layers}
    if "decoder" in names:
        return model.get_layer("decoder").cross_attention
    if "attention" in names:
        return model.get_layer("attention")
    raise ValueError(f"Model {model.name!r} has no attention over the source (the plain 'gru' model); "
                     "use a 'transformer' or 'gru-attention' model.")


def _int64(ids):
    return np.asarray(ids, dtype="int64")


class Translator:
    """English -> Spanish: source and target vectorizers around a seq2seq model.

    Args:
        model: a model from ``build_translation_model`` (inputs ``"english"``,
            ``"spanish"``; output ``(B, T, vocab)`` probabilities).
        source_vectorizer: the English vocabulary (length ``S``): a
            ``WordVectorizer`` or ``SubwordVectorizer`` (``translation.vocabulary``).
        target_vectorizer: the Spanish vocabulary of the same kind (length ``S + 1``,
            ``[start]``/``[end]`` wrapped); subword pieces translate into cased,
            punctuated text.
        model_name: recorded on save (e.g. ``"transformer"``).
        fixed_batch: decode every batch of :meth:`translate` (and the sentence
            of :meth:`attention_map`) at ``batch_size`` rows, filled with copies
            of a sentence, so that the compiled decoding loop serves them all;
            None: under JAX, which compiles the loop for each new shape.
        width_multiple: sources of a decoded batch are cut to their longest,
            rounded up to a multiple of this many tokens (few shapes).

    Example::

        translator = Translator(model, source_vec, target_vec, "transformer")
        translator.translate(["I love you."])
    """

    def __init__(self, model, source_vectorizer, target_vectorizer, model_name=None, fixed_batch=None,
                 width_multiple=4):
        self.model = model
        self.fixed_batch = keras.backend.backend() == "jax" if fixed_batch is None else bool(fixed_batch)
        self.width_multiple = int(width_multiple)
        self.source_vectorizer = source_vectorizer
        self.target_vectorizer = target_vectorizer
        self.model_name = model_name or model.name
        self.start_id, self.end_id = target_vectorizer.start_id, target_vectorizer.end_id
        # Longest Spanish output: the decoder input length (target length - 1).
        self.max_length = target_vectorizer.sequence_length - 1
        self.sequence_length = source_vectorizer.sequence_length
        self._call = self.model
        if keras.backend.backend() == "tensorflow":
            # One graph for every batch size, source length and prefix length.
            spec = tf.TensorSpec((None, None), tf.int64)
            self._call = tf.function(lambda inputs: self.model(inputs, training=False),
                                     input_signature=[{"english": spec, "spanish": spec}])
        self._decoder = None

    # ---- text in, text out -------------------------------------------------
    def _source_ids(self, sentences):
        ids = keras.ops.convert_to_numpy(self.source_vectorizer(tf.constant(sentences)))
        return ids

    def _warn_if_long(self, sentences, ids):
        full = [i for i, row in enumerate(ids) if row[-1] != 0]  # a full row may mean truncation
        for i, count in zip(full, self.source_vectorizer.count_tokens([sentences[i] for i in full])):
            if count > self.sequence_length:
                logger.warning("Input longer than %d tokens, truncated: %r", self.sequence_length, sentences[i][:80])

    @property
    def decoder(self):
        """The cached, compiled decoder (``keras_transformer.translation.decoding.Decoder``)."""
        if self._decoder is None:
            self._decoder = Decoder(self.model, self.start_id, self.end_id, self.max_length)
        return self._decoder

    def decode(self, source_ids, method="greedy", beam_size=4, length_penalty=0.6):
        """Source ids ``(B, S)`` -> one list of target ids per sentence.

        ``method="greedy"``: the cached, compiled decoder (token for token the
        book's loop, much faster); ``"beam"``: beam search with ``beam_size``
        and a GNMT ``length_penalty``.
        """
        if method == "greedy":
            tokens = self.decoder.greedy(source_ids)
        elif method == "beam":
            tokens = self.decoder.beam(source_ids, beam_size=beam_size, length_penalty=length_penalty)
        else:
            raise ValueError(f"method must be 'greedy' or 'beam'; got {method!r}.")
        return to_token_lists(tokens, self.end_id)

    def translate(self, sentences, batch_size=256, method="greedy", beam_size=4, length_penalty=0.6):
        """Translate English sentences: ``list[str] -> list[str]``.

        ``method``: ``"greedy"`` (default; cached and compiled, identical
        tokens to the book's loop) or ``"beam"`` (``beam_size``,
        ``length_penalty``); see :meth:`decode`.

        A single string gives a single string. Empty or whitespace-only input,
        ``None``, and input with no token left after standardization (e.g.
        ``"?!"``, which the model would see as an all-padding source)
        translate to ``""``. Over-long input is truncated to the sequence length, with
        a warning. ``[start]`` and ``[end]`` are not in the output. Sentences are
        decoded ``batch_size`` at a time, grouped by source length (most
        batches then stop early; see ``decoding.decode_by_length``).

        Example::

            translator.translate(["Hello.", ""])  # ["hola", ""]
        """
        if isinstance(sentences, str):
            return self.translate([sentences], batch_size, method, beam_size, length_penalty)[0]
        if sentences is None:
            raise ValueError("translate() got None; pass a list of English sentences.")
        sentences = ["" if s is None else str(s) for s in sentences]
        results = [""] * len(sentences)
        if not sentences:
            return results
        ids = self._source_ids(sentences)
        self._warn_if_long(sentences, ids)
        nonempty = np.flatnonzero(np.any(ids != 0, axis=1))
        if nonempty.size == 0:
            return results
        # Batches of similar source length: most stop early (decode_by_length).
        decoded = decode_by_length(lambda rows: self.decode(rows, method, beam_size, length_penalty),
                                   ids[nonempty], batch_size, self.width_multiple, self.fixed_batch)
        for row, text in zip(nonempty, self.texts(decoded)):
            results[row] = text
        return results

    def texts(self, token_lists):
        """Decoded id lists -> Spanish strings, as the target vocabulary detokenizes them."""
        return self.target_vectorizer.detokenize(token_lists)

    def attention_map(self, sentence):
        """Cross-attention of the greedy translation of one sentence, for a heatmap.

        Returns ``(source_tokens, output_tokens, weights)``: the English tokens
        the model saw, the Spanish tokens it produced (``[end]`` last when
        decoding stopped there) and ``(len(output_tokens), len(source_tokens))``
        weights, averaged over heads for the Transformer. Works for
        ``transformer`` and ``gru-attention`` models.

        Example::

            src, out, w = translator.attention_map("Where is the cafe?")
            plot_attention(src, out, w, "attention.png")
        """
        layer = _cross_attention_layer(self.model)
        source_ids = self._source_ids([sentence])
        length = int(np.sum(source_ids[0] != 0))
        if length == 0:
            raise ValueError(f"Nothing to translate in {sentence!r}; pass a sentence with words.")
        tokens = decode_by_length(self.decode, source_ids, 256, self.width_multiple, self.fixed_batch)[0]
        source_ids = source_ids[:, :length]
        vocabulary = self.target_vectorizer.get_vocabulary()
        labels = [vocabulary[t] if t < len(vocabulary) else "[UNK]" for t in tokens]
        if len(tokens) < self.max_length:
            labels.append(END_TOKEN)  # decoding stopped at [end]
        else:
            tokens = tokens[:-1]  # row t of the prefix predicted output token t
        prefix = np.array([[self.start_id] + tokens], dtype="int64")
        layer.keep_attention_weights = True
        try:
            # Eagerly, so the layer keeps concrete weights.
            self.model({"english": source_ids, "spanish": prefix}, training=False)
            weights = keras.ops.convert_to_numpy(layer.last_attention_weights)
        finally:
            layer.keep_attention_weights = False
            layer.last_attention_weights = None
        if weights.ndim == 4:  # (B, heads, T, S)
            weights = weights.mean(axis=1)
        source_vocabulary = self.source_vectorizer.get_vocabulary()
        source_tokens = [str(source_vocabulary[i]) for i in source_ids[0]]
        return source_tokens, labels, weights[0][: len(labels), :length]

    # ---- quality -----------------------------------------------------------
    def evaluate(self, pairs, batch_size=64, translate=True, method="greedy", beam_size=4, length_penalty=0.6,
                 unseen=None):
        """Next-token accuracy two ways, and corpus BLEU and chrF, on ``pairs``.

        Args:
            pairs: ``[(english, spanish), ...]`` held-out raw pairs.
            batch_size: batch size of the teacher-forced accuracy pass.
            translate: also decode every sentence for BLEU/chrF (slower).

        Returns a dict:
            ``accuracy_keras``: as the book's Keras run counts it (masked by
            the decoder-input mask, so the padding position right after
            ``[end]`` counts). ``accuracy_tokens``: over real target tokens
            only. ``bleu``, ``chrf``: sacreBLEU corpus scores of greedy
            translations against the references prepared by
            :func:`prepare_reference` (lowercase, punctuation stripped), with
            ``bleu_signature``/``chrf_signature``; ``num_pairs``; ``bleu_raw``,
            ``chrf_raw`` against the corpus's own (cased, punctuated) references,
            ``unk_rate`` and, given ``unseen`` (one boolean per pair, see
            ``spa_eng.unseen_in_training``), the same on the unseen pairs
            (:func:`keras_transformer.translation.scoring.translation_scores`).
        """
        if not pairs:
            raise ValueError("evaluate() got no pairs; pass [(english, spanish), ...].")
        english = [e for e, _ in pairs]
        spanish = [wrap_target(s) for _, s in pairs]
        counts = {"keras": [0, 0], "tokens": [0, 0]}
        for begin in range(0, len(pairs), batch_size):
            source = self._source_ids(english[begin : begin + batch_size])
            target = keras.ops.convert_to_numpy(self.target_vectorizer(tf.constant(spanish[begin : begin + batch_size])))
            decoder_inputs, targets = target[:, :-1], target[:, 1:]
            probabilities = self._call({"english": _int64(source), "spanish": _int64(decoder_inputs)})
            predicted = np.argmax(keras.ops.convert_to_numpy(probabilities), axis=-1)
            for key, (correct, total) in next_token_accuracies(decoder_inputs, targets, predicted).items():
                counts[key][0] += correct
                counts[key][1] += total
        results = {
            "num_pairs": len(pairs),
            "accuracy_keras": counts["keras"][0] / max(counts["keras"][1], 1),
            "accuracy_tokens": counts["tokens"][0] / max(counts["tokens"][1], 1),
        }
        if translate:
            hypotheses = self.translate(english, method=method, beam_size=beam_size, length_penalty=length_penalty)
            references = [prepare_reference(s) for _, s in pairs]
            # Output as the book's words write it, for the book-comparable scores.
            prepared = self.target_vectorizer.as_book_words(hypotheses)
            results.update(translation_scores(hypotheses, [s for _, s in pairs], references, unseen, prepared))
            results["hypotheses"] = hypotheses
            results["references"] = references
        return results

    # ---- persistence -------------------------------------------------------
    def save(self, path):
        """Write ``model.keras`` and ``translator.json`` (vocabularies, settings) to a folder, whole.

        The folder is written beside its target and then takes its name
        (``training.files.replace_atomically``), so a kill leaves the previous
        translator or the new one, never half of one.
        """
        meta = {
            "model_name": self.model_name,
            "source_vectorizer": self.source_vectorizer.get_state(),
            "target_vectorizer": self.target_vectorizer.get_state(),
        }

        def write(folder):
            folder.mkdir()
            self.model.save(folder / _MODEL_FILE)
            (folder / _META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

        replace_atomically(path, write)

    @classmethod
    def load(cls, path, compile=False):
        """Rebuild a saved translator (``safe_mode=True``: no Lambda, no pickles)."""
        path = Path(path)
        if not (path / _META_FILE).exists():
            raise FileNotFoundError(f"No {_META_FILE} in {str(path)!r}; pass a folder written by Translator.save().")
        meta = json.loads((path / _META_FILE).read_text(encoding="utf-8"))
        model = keras.saving.load_model(path / _MODEL_FILE, compile=compile, safe_mode=True)
        return cls(model, vocabulary_from_state(meta["source_vectorizer"]),
                   vocabulary_from_state(meta["target_vectorizer"]), meta.get("model_name"))


__all__ = ["Translator", "prepare_reference"]
