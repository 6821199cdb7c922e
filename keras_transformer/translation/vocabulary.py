"""The translator's two vocabularies behind one interface: the book's words and subword pieces.

``make_vocabularies(tokenizer, train_pairs)`` is where the choice is made; everything
downstream (datasets, the Translator, the export, the command line) calls the same methods
on either kind and never asks which it holds, as keras-hub's tokenizers share theirs:

========================================  ==================================================
``vocab(texts)``                          ``(B,)`` strings -> ``(B, sequence_length)`` int64
                                          ids, 0-padded (a ``tf.Tensor``; graphs too)
``vocab.detokenize(id_lists)``            ``list[str]``: the book's words joined by spaces,
                                          or pieces joined as SentencePiece spaces them
``vocab.detokenize_tensor(ids)``          the same in a TensorFlow graph (for SavedModels)
``vocab.count_tokens(texts)``             tokens each text has before truncation (and
                                          ``count_tokens_tensor`` in a graph)
``vocab.get_vocabulary()``,               tokens by id, how many ids the model must output,
``vocab.vocabulary_size()``,              the length ids are cut or padded to
``vocab.sequence_length``
``vocab.start_id``, ``vocab.end_id``      the ids of ``[start]`` and ``[end]``
``vocab.as_book_words(texts)``            output texts as the book's words write them
``vocab.get_state()``, ``from_state()``   a JSON-able dict and back (``Translator.save``)
``vocab.trackables``                      what a SavedModel must track for its tables
========================================  ==================================================

The book's ``TextVectorization`` lower-cases, strips punctuation and maps every
word outside its 15,000 to ``[UNK]`` (:class:`WordVectorizer` wraps it). A SentencePiece
(unigram) vocabulary (:class:`SubwordVectorizer`) splits rare words into pieces, keeps case
and every punctuation mark (``¿`` and ``¡`` included), and spells characters it never saw
as UTF-8 bytes, so no sentence has an unknown token and ``detokenize(tokenize(s)) == s``::

    source_vec, target_vec = make_vocabularies("sentencepiece", train_pairs)   # 8,000 pieces each
    ids = target_vec(["¿Dónde está el café?"])   # (1, 33): [start] ▁¿ D ónde ... [end] 0 ...
    target_vec.detokenize([[15, 7, 301]])        # text, spaced as the pieces say

Subword tokenization runs in TensorFlow graphs (keras-hub's ``SentencePieceTokenizer``,
which wraps tensorflow-text's op), so a SavedModel serves it; both are keras-hub dependencies.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_transformer.data.serving import count_words
from keras_transformer.layers.text import END_TOKEN, START_TOKEN, custom_standardization
from keras_transformer.translation.pairs import wrap_target
from keras_transformer.translation.subwords import (UNKNOWN_ID, UNKNOWN_TOKEN, SubwordVectorizer,
                                                    make_subword_vectorizers, prepare_reference)

class WordVectorizer:
    """The book's vocabulary: a ``TextVectorization`` of words, with the interface of this module.

    Args:
        layer: an adapted ``TextVectorization`` (``output_mode="int"``, a fixed
            ``output_sequence_length``).
        size: the ids the model outputs (the book's ``max_tokens``, 15,000),
            which may exceed the adapted vocabulary; ids past it read ``[UNK]``.

    Example::

        source_vec, target_vec = make_vectorizers(train_pairs)   # WordVectorizer each
        target_vec.detokenize([[5, 9]])                           # ["el gato"]
    """

    def __init__(self, layer, size=None):
        self.layer = layer
        config = layer.get_config()
        self.sequence_length = int(config["output_sequence_length"])
        self._vocabulary = [str(token) for token in layer.get_vocabulary()]
        self.size = max(int(size or config.get("max_tokens") or 0), len(self._vocabulary))
        self.start_id = self._vocabulary.index(START_TOKEN) if START_TOKEN in self._vocabulary else None
        self.end_id = self._vocabulary.index(END_TOKEN) if END_TOKEN in self._vocabulary else None
        self._words = None

    @property
    def trackables(self):
        return [self.layer]

    def get_vocabulary(self):
        return list(self._vocabulary)

    def vocabulary_size(self):
        return self.size

    def get_config(self):
        return self.layer.get_config()

    def __call__(self, texts):
        """``(B,)`` strings -> ``(B, sequence_length)`` int64 ids."""
        return self.layer(texts)

    def as_book_words(self, texts):
        """Detokenized texts as the book's words write them: they already are (lower-cased, no punctuation)."""
        return list(texts)

    def count_tokens(self, texts):
        """Words each text has after the layer's standardization and split (before truncation)."""
        return count_words(self.layer, texts)

    def count_tokens_tensor(self, texts):
        """Graph version of :meth:`count_tokens`: ``(B,)`` strings -> ``(B,)`` int32 word counts."""
        return tf.cast(self.layer._preprocess(tf.reshape(texts, [-1])).row_lengths(), tf.int32)

    def detokenize(self, token_lists):
        """Lists of ids -> ``list[str]``: the words joined by single spaces; ids past the vocabulary read ``[UNK]``."""
        vocabulary, unknown = self._vocabulary, UNKNOWN_TOKEN
        return [" ".join(vocabulary[t] if t < len(vocabulary) else unknown for t in tokens) for tokens in token_lists]

    def detokenize_tensor(self, ids):
        """Graph version of :meth:`detokenize`: ragged or dense int ids ``(B, L)`` -> ``(B,)`` strings."""
        if self._words is None:
            self._words = tf.constant(self._vocabulary + [UNKNOWN_TOKEN] * (self.size - len(self._vocabulary)))
        ids = tf.cast(ids, tf.int32)
        ids = tf.where((ids >= 0) & (ids < self.size), ids, UNKNOWN_ID)
        return tf.strings.reduce_join(tf.gather(self._words, ids), axis=-1, separator=" ")

    def get_state(self):
        """A JSON-able dict that :meth:`from_state` turns back into an equal vectorizer."""
        config = self.layer.get_config()
        standardize = config.get("standardize")
        if callable(standardize):
            standardize = standardize.__name__
        elif isinstance(standardize, dict):  # a serialized function
            standardize = standardize.get("config", standardize.get("class_name"))
        return {"kind": "words", "max_tokens": config["max_tokens"], "size": self.size,
                "output_sequence_length": config["output_sequence_length"], "standardize": standardize,
                "split": config.get("split", "whitespace"), "vocabulary": self.get_vocabulary()}

    @classmethod
    def from_state(cls, state):
        standardize = {"custom_standardization": custom_standardization}.get(state["standardize"], state["standardize"])
        vocabulary = state["vocabulary"]
        # The saved vocabulary starts with the padding "" and OOV "[UNK]" entries, which the layer adds itself.
        if vocabulary[:2] == ["", UNKNOWN_TOKEN]:
            vocabulary = vocabulary[2:]
        layer = keras.layers.TextVectorization(
            max_tokens=state["max_tokens"], output_mode="int", output_sequence_length=state["output_sequence_length"],
            standardize=standardize, split=state["split"], vocabulary=vocabulary)
        return cls(layer, state.get("size"))


KINDS = {"words": WordVectorizer, "sentencepiece": SubwordVectorizer}
TOKENIZERS = ("word", "sentencepiece")
# The book's sizes for its words; 8,000 pieces of up to 32 for subwords.
DEFAULT_SIZES = {"word": (15000, 20), "sentencepiece": (8000, 32)}


def vocabulary_from_state(state):
    """The vocabulary a ``get_state()`` dict describes, ready to call (either kind)."""
    return KINDS[state.get("kind", "words")].from_state(state)


def make_vectorizers(
    train_pairs: list[tuple[str, str]],
    vocab_size: int = 15000,
    sequence_length: int = 20,
):
    """Build and adapt the book's source and target ``TextVectorization`` layers.

    The source layer uses Keras' default standardization and outputs
    ``sequence_length`` ids; the target layer uses :func:`custom_standardization`
    and outputs ``sequence_length + 1`` ids, so that shifting by one gives
    decoder inputs and targets of length ``sequence_length``.

    Args:
        train_pairs: ``[(english, spanish), ...]``; Spanish is wrapped with
            :func:`wrap_target` before adapting.
        vocab_size: ``max_tokens`` of each layer.
        sequence_length: source length (target is one longer).

    Returns:
        ``(source_vectorizer, target_vectorizer)``, :class:`WordVectorizer` each: string
        ``(B,)`` -> int64 ``(B, sequence_length)`` and ``(B, sequence_length + 1)``.

    Example::

        source_vec, target_vec = make_vectorizers(train_pairs)
        source_vec(["Go."]).shape  # (1, 20)
    """
    if not train_pairs:
        raise ValueError("train_pairs is empty; pass the training pairs from split_pairs().")
    source_vec = keras.layers.TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length,
    )
    target_vec = keras.layers.TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length + 1,
        standardize=custom_standardization,
    )
    english = [eng for eng, _ in train_pairs]
    spanish = [wrap_target(spa) for _, spa in train_pairs]
    # Batched datasets adapt much faster than a Python list fed one by one.
    source_vec.adapt(tf.data.Dataset.from_tensor_slices(english).batch(1024))
    target_vec.adapt(tf.data.Dataset.from_tensor_slices(spanish).batch(1024))
    return WordVectorizer(source_vec), WordVectorizer(target_vec)


def make_vocabularies(tokenizer, train_pairs, vocab_size=None, sequence_length=None):
    """Source and target vocabularies of the chosen kind, learned on ``train_pairs`` only.

    ``tokenizer``: ``"word"`` (the book's ``TextVectorization``, 15,000 words of up to 20)
    or ``"sentencepiece"`` (8,000 pieces of up to 32); ``vocab_size`` and
    ``sequence_length`` override those defaults. The one place the choice is made.

    Example: ``source_vec, target_vec = make_vocabularies("word", train_pairs)``.
    """
    if tokenizer not in DEFAULT_SIZES:
        raise ValueError(f"tokenizer={tokenizer!r}; choose one of {', '.join(TOKENIZERS)}.")
    size, length = DEFAULT_SIZES[tokenizer]
    make = make_vectorizers if tokenizer == "word" else make_subword_vectorizers
    return make(train_pairs, vocab_size or size, sequence_length or length)


__all__ = ["SubwordVectorizer", "WordVectorizer", "make_subword_vectorizers", "make_vectorizers", "make_vocabularies",
           "prepare_reference", "vocabulary_from_state"]
