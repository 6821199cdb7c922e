"""Subword pieces for the translator: a SentencePiece vocabulary learned on the training pairs.

A unigram SentencePiece vocabulary splits rare words into pieces, keeps case and every
punctuation mark (``¿`` and ``¡`` included), and spells characters it never saw as UTF-8
bytes, so no sentence has an unknown token and ``detokenize(tokenize(s)) == s``.
:class:`SubwordVectorizer` answers the interface of ``translation.vocabulary`` (see there).
Tokenization runs in TensorFlow graphs (keras-hub's ``SentencePieceTokenizer``, which wraps
tensorflow-text's op), so a SavedModel serves it; detokenizing is plain TensorFlow ops.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import tensorflow as tf

from keras_transformer.layers.text import END_TOKEN, START_TOKEN, custom_standardization
from keras_transformer.translation.normalize import InputNormalizer

UNKNOWN_TOKEN = "[UNK]"
PAD_ID, UNKNOWN_ID, START_ID, END_ID = 0, 1, 2, 3
# Padding is id 0, as the models' masks expect; [start] and [end] are
# SentencePiece's control symbols, which text never produces and decoding drops.
_SPECIAL = dict(pad_id=PAD_ID, unk_id=UNKNOWN_ID, bos_id=START_ID, eos_id=END_ID, pad_piece="[pad]",
                unk_piece=UNKNOWN_TOKEN, bos_piece=START_TOKEN, eos_piece=END_TOKEN, unk_surface=UNKNOWN_TOKEN)
_WRAPPED = r"^\[start\] (.*) \[end\]$"


def learn_sentencepiece(texts, vocab_size=8000):
    """A unigram SentencePiece model learned on ``texts``, as serialized bytes.

    Case, accents and punctuation are kept as written (no normalization),
    every character of ``texts`` is covered, and unseen characters fall back
    to bytes. ``vocab_size`` is an upper bound (a tiny corpus gets fewer pieces).
    Learning is deterministic: the same texts give the same bytes.

    Example: ``proto = learn_sentencepiece([s for _, s in train_pairs], 8000)``.
    """
    import sentencepiece as spm

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("learn_sentencepiece() got no text; pass the training sentences.")
    if vocab_size < 300:
        raise ValueError(f"vocab_size={vocab_size} is below the 260 byte and special pieces plus a few words; "
                         "pass at least 300, e.g. 8000.")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=int(vocab_size), model_type="unigram",
        character_coverage=1.0, byte_fallback=True, normalization_rule_name="identity", hard_vocab_limit=False,
        num_threads=1, minloglevel=2, **_SPECIAL,
    )
    return model.getvalue()


class SubwordVectorizer:
    """Strings ``(B,)`` -> SentencePiece ids ``(B, output_sequence_length)`` int64, 0-padded.

    Args:
        proto: a serialized SentencePiece model (:func:`learn_sentencepiece`).
        output_sequence_length: ids per sentence; longer sentences are cut.
        wrap: add ``[start]`` and ``[end]`` around each sentence (the target
            side). Text already wrapped by ``spa_eng.wrap_target`` is accepted
            and wrapped once.

    Example::

        target_vec = SubwordVectorizer(proto, 33, wrap=True)
        target_vec.detokenize(target_vec(["¡Hola!"]).numpy().tolist())  # ["¡Hola!"]
    """

    def __init__(self, proto, output_sequence_length, wrap=False, normalizer=None):
        import sentencepiece as spm

        self.proto = bytes(proto)
        self.output_sequence_length = int(output_sequence_length)
        self.wrap = bool(wrap)
        self._normalizer = normalizer  # English as readers type it (translation.normalize), source side only
        if self.output_sequence_length < (3 if self.wrap else 1):
            raise ValueError(f"output_sequence_length={output_sequence_length} leaves no room for a token; pass e.g. 32.")
        self._new_tokenizer()
        self._processor = spm.SentencePieceProcessor(model_proto=self.proto)
        self._vocabulary = [self._processor.id_to_piece(i) for i in range(self._processor.get_piece_size())]
        if self._vocabulary[: END_ID + 1] != ["[pad]", UNKNOWN_TOKEN, START_TOKEN, END_TOKEN]:
            raise ValueError("This SentencePiece model was not made by learn_sentencepiece() "
                             "(ids 0-3 must be [pad], [UNK], [start], [end]).")
        self._surfaces = tf.constant([self._surface(i) for i in range(len(self._vocabulary))])
        self.built = True

    @property
    def normalizer(self):
        return self._normalizer

    @normalizer.setter
    def normalizer(self, value):  # the compiled tokenizer read the old one when traced: a new one reads this
        self._normalizer = value
        self._new_tokenizer()

    def _new_tokenizer(self):
        import keras_hub

        self.tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=self.proto, dtype="int32")
        self._compiled = tf.function(self._ragged_ids, input_signature=[tf.TensorSpec([None], tf.string)])

    def _pieces(self, texts):
        try:
            return self._compiled(texts)
        except tf.errors.NotFoundError:
            # tensorflow-text's SentencePiece op keeps its model inside the op's
            # kernel, and tf.random.set_seed() (keras.utils.set_random_seed) clears
            # the kernels: the model is then gone, and a new tokenizer brings it back.
            self._new_tokenizer()
            return self._compiled(texts)

    def _surface(self, index):
        # What piece `index` adds to the text: SentencePiece's own decoding rules.
        processor = self._processor
        if processor.is_control(index):
            return b""
        if processor.is_unknown(index):
            return UNKNOWN_TOKEN.encode()
        if processor.is_byte(index):
            return bytes([int(self._vocabulary[index][3:5], 16)])  # "<0xE6>"
        return self._vocabulary[index].replace("\u2581", " ").encode("utf-8")

    # ---- the interface both vocabularies answer --------------------------------
    start_id, end_id = START_ID, END_ID

    @property
    def sequence_length(self):
        return self.output_sequence_length

    @property
    def trackables(self):  # keras-hub's tokenizer layer holds the SentencePiece model
        return [self.tokenizer] + (self.normalizer.trackables if self.normalizer else [])

    def get_vocabulary(self):
        return list(self._vocabulary)

    def vocabulary_size(self):
        return len(self._vocabulary)

    def as_book_words(self, texts):
        """Detokenized texts as the book's target vocabulary writes them: lower-cased, no punctuation."""
        return [prepare_reference(text) for text in texts]

    def get_config(self):
        return {"output_sequence_length": self.output_sequence_length, "output_mode": "int",
                "vocabulary_size": self.vocabulary_size(), "wrap": self.wrap}

    def build(self, input_shape=None):
        self.built = True

    def __call__(self, texts):
        """``(B,)`` strings -> ``(B, output_sequence_length)`` int64 ids (a ``tf.Tensor``)."""
        ids = self._pieces(tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1]))
        return tf.cast(ids.to_tensor(PAD_ID, shape=[None, self.output_sequence_length]), tf.int64)

    def _ragged_ids(self, texts):
        if self.wrap:
            texts = tf.strings.regex_replace(texts, _WRAPPED, r"\1")
        # Runs of whitespace (tabs, line breaks) are one space, and none at the ends:
        # whitespace-only text has no pieces, as it has no words for the book's layer.
        texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
        if self._normalizer is not None:
            texts = self._normalizer(texts)
        ids = self.tokenizer.tokenize(texts)
        if not isinstance(ids, tf.RaggedTensor):  # one string in gives a dense row
            ids = tf.RaggedTensor.from_tensor(ids)
        if self.wrap:
            column = tf.fill(tf.stack([ids.nrows(out_type=tf.int32), 1]), 0)
            start = tf.RaggedTensor.from_tensor(column + START_ID, row_splits_dtype=ids.row_splits.dtype)
            end = tf.RaggedTensor.from_tensor(column + END_ID, row_splits_dtype=ids.row_splits.dtype)
            ids = tf.concat([start, ids, end], axis=1)
        return ids

    # ---- text back --------------------------------------------------------------
    def count_tokens(self, texts):
        """Pieces each text has before truncation (``[start]``/``[end]`` not counted): ``list[int]``."""
        if not len(texts):
            return []
        return [int(n) for n in self.count_tokens_tensor(tf.constant(list(texts), tf.string)).numpy()]

    def count_tokens_tensor(self, texts):
        """Graph version of :meth:`count_tokens`: ``(B,)`` strings -> ``(B,)`` int32 piece counts."""
        lengths = tf.cast(self._pieces(tf.reshape(texts, [-1])).row_lengths(), tf.int32)
        return lengths - (2 if self.wrap else 0)

    def detokenize(self, token_lists):
        """Lists of ids -> ``list[str]``: pieces joined as SentencePiece spaces them.

        Padding, ``[start]`` and ``[end]`` vanish; ``[UNK]`` and ids past the
        vocabulary read ``[UNK]``; byte pieces join into their characters.
        """
        if not len(token_lists):
            return []
        ragged = tf.ragged.constant([[int(t) for t in tokens] for tokens in token_lists], dtype=tf.int32,
                                    ragged_rank=1, inner_shape=())
        return [text.decode("utf-8") for text in self.detokenize_tensor(ragged).numpy()]

    def detokenize_tensor(self, ids):
        """Graph version of :meth:`detokenize`: ragged or dense int ids ``(B, L)`` -> ``(B,)`` strings.

        Plain TensorFlow ops (a lookup of each piece's bytes, then a join), so a
        SavedModel holds no second SentencePiece op: tensorflow-text's ops share
        one model between two tokenizers once reloaded.
        """
        ids = tf.cast(ids, tf.int32)
        size = self.vocabulary_size()
        ids = tf.where((ids >= 0) & (ids < size), ids, UNKNOWN_ID)
        text = tf.strings.reduce_join(tf.gather(self._surfaces, ids), axis=-1)
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        return tf.strings.regex_replace(text, "^ ", "")  # the first piece's word-start mark

    # ---- saving -------------------------------------------------------------------
    def get_state(self):
        """A JSON-able dict that :meth:`from_state` turns back into an equal vectorizer."""
        state = {"kind": "sentencepiece", "proto": base64.b64encode(self.proto).decode("ascii"),
                 "output_sequence_length": self.output_sequence_length, "wrap": self.wrap}
        if self.normalizer is not None:
            state["normalizer"] = self.normalizer.get_state()
        return state

    @classmethod
    def from_state(cls, state):
        normalizer = InputNormalizer.from_state(state["normalizer"]) if "normalizer" in state else None
        return cls(base64.b64decode(state["proto"]), state["output_sequence_length"], state["wrap"], normalizer)


def make_subword_vectorizers(train_pairs, vocab_size=8000, sequence_length=32, normalize=True):
    """Source and target :class:`SubwordVectorizer` learned on the training pairs only.

    One vocabulary per language, ``vocab_size`` pieces at most each. As with
    the book's vectorizers, the source gives ``sequence_length`` ids and the
    target (wrapped in ``[start]``/``[end]``) ``sequence_length + 1``. ``normalize``: the
    source re-cases English typed in capitals or in lower case and adds a missing final
    mark, by rules learned from the training English (:mod:`keras_transformer.translation.normalize`).

    Example::

        source_vec, target_vec = make_subword_vectorizers(train_pairs, 8000, 32)
    """
    if not train_pairs:
        raise ValueError("train_pairs is empty; pass the training pairs from split_pairs().")
    english = [e for e, _ in train_pairs]
    normalizer = InputNormalizer.learn(english) if normalize else None
    source = SubwordVectorizer(learn_sentencepiece(english, vocab_size), sequence_length, normalizer=normalizer)
    target = SubwordVectorizer(learn_sentencepiece([s for _, s in train_pairs], vocab_size), sequence_length + 1,
                               wrap=True)
    return source, target


def piece_statistics(vectorizer, texts):
    """Mean and 99th percentile of pieces per text, the share cut by truncation, the round-trip rate."""
    counts = np.array(vectorizer.count_tokens(texts))
    limit = vectorizer.output_sequence_length - (2 if vectorizer.wrap else 0)
    decoded = vectorizer._processor.decode(vectorizer._processor.encode(list(texts)))
    return {"mean": float(counts.mean()), "p99": float(np.percentile(counts, 99)),
            "truncated": float(np.mean(counts > limit)), "round_trip": float(np.mean([a == b for a, b in zip(decoded, texts)]))}


def prepare_reference(spanish):
    """A Spanish reference prepared as the model's output is: lowercase, no punctuation.

    The target vectorizer's standardization (lower-case, strip punctuation and
    "¿") is applied, then whitespace is collapsed, so BLEU and chrF compare
    like with like rather than penalizing the model for the casing and
    punctuation it was never shown.

    Example: ``prepare_reference("¿Dónde está el café?") -> "dónde está el café"``.
    """
    standardized = custom_standardization(tf.constant([spanish]))[0].numpy().decode("utf-8")
    return " ".join(standardized.split())


__all__ = ["SubwordVectorizer", "learn_sentencepiece", "make_subword_vectorizers", "piece_statistics", "prepare_reference"]
