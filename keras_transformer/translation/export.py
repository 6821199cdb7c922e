"""Ship a translator as a TensorFlow SavedModel of English text -> Spanish text.

Serving a translator (TensorFlow Serving, another process, ``saved_model_cli``) needs
the source vocabulary, the whole decoding loop and the target vocabulary inside one
graph. One signature, ``serving_default``::

    inputs:  text         tf.string  (B,)   raw UTF-8 English sentences
    outputs: translation  tf.string  (B,)   greedy Spanish: the book's words joined by
                                            spaces, or detokenized subword pieces
             truncated    tf.bool    (B,)   the English was longer than the model's
                                            sequence length: only its start was translated

Example::

    from keras_transformer.translation import Translator, export_translator
    export_translator(Translator.load("output/translator"), "export/translator")

    # Anywhere with TensorFlow only (no keras, no keras_transformer; a subword
    # translator's SentencePiece op also needs `import tensorflow_text` first):
    serve = tf.saved_model.load("export/translator").signatures["serving_default"]
    serve(text=tf.constant(["Where is the cafe?"]))["translation"]

The graph is the cached greedy loop of :class:`keras_transformer.translation.decoding.Decoder`,
the same loop ``Translator.translate`` runs (the encoder once, the decoder one step at a
time with a key/value cache, stopping when every sentence has ended). Over-long inputs are
truncated to the vocabulary's sequence length inside the graph and flagged in ``truncated``,
as ``Translator.translate`` warns of them.
"""

from __future__ import annotations

import tensorflow as tf

from keras_transformer.data.serving import TEXT_SPEC, check_text, require_tensorflow, write_archive
from keras_transformer.translation.decoding import kept_tokens


def translation_function(translator):
    """``tf.function``: ``(B,)`` English strings -> ``{"translation": (B,) tf.string}``.

    Source vocabulary, then the translator's cached greedy decoder, then the target
    vocabulary's ``detokenize_tensor``. A sentence with no token (empty, whitespace,
    only punctuation) translates to ``""``, as ``Translator.translate`` does. This is
    exactly the graph :func:`export_translator` saves.
    """
    decoder, source_vocab, target_vocab = translator.decoder, translator.source_vectorizer, translator.target_vectorizer
    end_id = translator.end_id

    @tf.function(input_signature=[TEXT_SPEC])
    def translate(text):
        text = check_text(text)
        source = tf.cast(source_vocab(text), tf.int32)
        generated = decoder.greedy(source)  # finished sentences leave the loop
        joined = target_vocab.detokenize_tensor(tf.ragged.boolean_mask(generated, kept_tokens(generated, end_id)))
        has_words = tf.reduce_any(tf.not_equal(source, 0), axis=1)
        truncated = source_vocab.count_tokens_tensor(text) > source_vocab.sequence_length
        return {"translation": tf.where(has_words, joined, tf.fill(tf.shape(joined), "")), "truncated": truncated}

    translate.decoder = decoder
    return translate


def export_translator(translator, path):
    """Write a :class:`~keras_transformer.translation.Translator` as a SavedModel of text -> text.

    Args:
        translator: a ``Translator`` (``transformer``, ``gru`` or ``gru-attention`` model).
        path: folder to write (created; an existing SavedModel is replaced).

    Returns:
        ``path`` as a ``Path``. Signature ``serving_default``: ``text`` tf.string
        ``(B,)`` -> ``translation`` tf.string ``(B,)``, greedy and cached,
        equal to ``Translator.translate`` on the same sentences.

    Example::

        export_translator(Translator.load("output/translator"), "export/translator")
    """
    require_tensorflow()
    # The source vocabulary's tables; the target's detokenizing is plain constants, and tracking its
    # SentencePiece op too would make two ops that share one model once reloaded.
    return write_archive(path, translation_function(translator), translator.model, translator.source_vectorizer)


__all__ = ["export_translator", "translation_function"]
