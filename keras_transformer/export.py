"""Ship a trained model as a TensorFlow SavedModel that takes raw text.

The chapter ends with a model that reads raw strings; serving it (TensorFlow
Serving, another process, ``saved_model_cli``) needs the preprocessing and, for
the translator, the whole decoding loop inside one graph. Both exports here
have one signature, ``serving_default``::

    inputs:  text         tf.string  (B,)   raw UTF-8 sentences or reviews
    outputs: probability  tf.float32 (B,)   classifier: P(positive review)
             translation  tf.string  (B,)   translator: greedy Spanish, tokens
                                            joined by spaces, no [start]/[end]

Example::

    from keras_transformer.export import export_classifier, export_translator
    export_classifier(end_to_end_model, "export/imdb")
    export_translator(translator, "export/translator")

    # Anywhere with TensorFlow only (no keras, no keras_transformer; a subword
    # translator's SentencePiece op also needs `import tensorflow_text` first):
    serve = tf.saved_model.load("export/translator").signatures["serving_default"]
    serve(text=tf.constant(["Where is the cafe?"]))["translation"]

The translator's graph is the cached greedy loop of
:class:`keras_transformer.decoding.Decoder` (the encoder runs once, the decoder
steps with a key/value cache, the loop stops when every sentence has ended).
Over-long inputs are truncated to the vectorizer's sequence length inside the
graph, silently; :func:`count_tokens` lets a caller warn first (the CLI does).
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import tensorflow as tf

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
SIGNATURE = "serving_default"


def check_text(text):
    """``text`` itself, checked at run time to be a 1-D batch ``(batch,)``.

    A signature checks its input's dtype but not its shape, and a static
    rank test is folded away in the graph; ``EnsureShape`` runs on every
    call. A ``(batch, 1)`` tensor fails with "Shape of tensor text [2,1] is
    not compatible with expected shape [?]" at a node named for the fix.
    """
    return tf.ensure_shape(text, [None], name="text_must_be_a_1D_batch_of_strings")


def _require_tensorflow():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"SavedModel export needs the TensorFlow backend (KERAS_BACKEND={keras.backend.backend()!r}); "
            "rerun with KERAS_BACKEND=tensorflow."
        )


def _check_path(path):
    _require_tensorflow()
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{str(path)!r} is a file; pass a folder to export the SavedModel to.")
    return path


def _track(archive, layer):
    if hasattr(layer, "tokenizer"):  # a SubwordVectorizer: keras-hub's tokenizer layer holds the model
        layer = layer.tokenizer
    # A vectorizer rebuilt from its vocabulary (Translator.load) is not built
    # until first called, and ExportArchive refuses unbuilt layers.
    if not layer.built:
        layer.build(None)
    archive.track(layer)


def find_vectorizer(model):
    """The first ``TextVectorization`` layer inside ``model`` (searching nested models), or None."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            return layer
        if isinstance(layer, keras.Model):
            found = find_vectorizer(layer)
            if found is not None:
                return found
    return None


def takes_strings(model):
    """Whether ``model``'s single input is a batch of strings (an ``end_to_end`` model)."""
    inputs = model.inputs
    return len(inputs) == 1 and "string" in str(inputs[0].dtype)


def sequence_length(vectorizer):
    """The length a ``TextVectorization`` truncates to, or None (bag-of-words, no truncation)."""
    config = vectorizer.get_config()
    if config.get("output_mode") != "int":
        return None
    return config.get("output_sequence_length")


def count_tokens(vectorizer, texts):
    """Tokens each text has after the vectorizer's standardization and split (before truncation).

    ``list[str] -> list[int]``. Used to warn about inputs the model will only
    see the start of.
    """
    if not texts:
        return []
    if hasattr(vectorizer, "count_tokens"):  # a SubwordVectorizer counts its own pieces
        return vectorizer.count_tokens(list(texts))
    try:
        # The layer's own standardize + split, so the count is exact.
        tokens = vectorizer._preprocess(tf.constant(list(texts), dtype=tf.string))
        return [int(n) for n in tokens.row_lengths().numpy()]
    except Exception:  # a future Keras without _preprocess: a close estimate
        return [len(re.findall(r"\w+", text)) for text in texts]


# ---- the classifier ---------------------------------------------------------


def classification_function(model, vectorizer=None):
    """``tf.function``: ``(B,)`` strings -> ``{"probability": (B,) float32}``.

    ``model`` is an ``end_to_end`` model (raw strings in), or a classifier
    from ``build_classifier`` together with its adapted ``vectorizer``.
    This is exactly the graph :func:`export_classifier` saves.
    """
    if vectorizer is None and not takes_strings(model):
        raise ValueError(
            f"Model {model.name!r} takes token ids, not strings; pass its adapted "
            "vectorizer too (export_classifier(model, path, vectorizer=vectorizer)) "
            "or an end_to_end(vectorizer, model) model."
        )

    @tf.function(input_signature=[TEXT_SPEC])
    def classify(text):
        text = check_text(text)
        inputs = text if vectorizer is None else vectorizer(text)
        probability = model(inputs, training=False)
        return {"probability": tf.reshape(tf.cast(probability, tf.float32), [-1])}

    return classify


def export_classifier(model, path, vectorizer=None):
    """Write an IMDB classifier as a SavedModel of raw text -> positive-class probability.

    Args:
        model: an ``end_to_end(vectorizer, model)`` model, or a bare classifier
            (token ids or bag-of-words in) with ``vectorizer``.
        path: folder to write (created; an existing SavedModel is replaced).
        vectorizer: the adapted ``TextVectorization`` for a bare classifier.

    Returns:
        ``path`` as a ``Path``. Signature ``serving_default``: ``text`` tf.string
        ``(B,)`` -> ``probability`` tf.float32 ``(B,)``.

    Example::

        export_classifier(end_to_end(vectorizer, model), "export/imdb")
    """
    path = _check_path(path)
    classify = classification_function(model, vectorizer)
    archive = keras.export.ExportArchive()
    _track(archive, model)  # variables, and the vectorizer's lookup table
    if vectorizer is not None:
        _track(archive, vectorizer)
    archive.add_endpoint(SIGNATURE, classify)
    archive.write_out(str(path), verbose=False)
    return path


# ---- the translator ---------------------------------------------------------


def _output_vocabulary(translator):
    # The model may have more outputs than the vectorizer has tokens (a
    # vocabulary smaller than max_tokens); those ids read as "[UNK]", as in
    # Translator._token.
    vocabulary = list(translator.vocabulary)
    outputs = int(translator.model.outputs[0].shape[-1])
    return vocabulary + ["[UNK]"] * max(outputs - len(vocabulary), 0)


def join_tokens(ids, vocabulary, start_id, end_id, detokenize=None):
    """Generated ids ``(B, L)`` -> ``(B,)`` strings, tokens joined by single spaces.

    A sentence ends at its first ``[end]`` or padding id (as in
    ``Translator.greedy_decode``); ``[start]`` tokens are dropped. With
    ``detokenize`` (ragged ids -> strings; a ``SubwordVectorizer``'s), the
    kept ids are detokenized instead of joined.
    """
    ids = tf.cast(ids, tf.int32)
    stop = tf.logical_or(tf.equal(ids, 0), tf.equal(ids, end_id))
    before_stop = tf.equal(tf.cumsum(tf.cast(stop, tf.int32), axis=1), 0)
    keep = tf.logical_and(before_stop, tf.not_equal(ids, start_id))
    kept = tf.ragged.boolean_mask(ids, keep)
    if detokenize is not None:
        return detokenize(kept)
    tokens = tf.gather(vocabulary, kept)
    return tf.strings.reduce_join(tokens, axis=1, separator=" ")


def translation_function(translator):
    """``tf.function``: ``(B,)`` English strings -> ``{"translation": (B,) tf.string}``.

    Source vectorizer, then the cached greedy loop of
    :class:`~keras_transformer.decoding.Decoder`, then the target vocabulary.
    A sentence with no known-or-unknown token (empty, whitespace, only
    punctuation) translates to ``""``, as ``Translator.translate`` does.
    This is exactly the graph :func:`export_translator` saves.
    """
    from keras_transformer.decoding import Decoder

    decoder = Decoder(translator.model, translator.start_id, translator.end_id, translator.max_length)
    vocabulary = tf.constant(_output_vocabulary(translator))
    source_vectorizer = translator.source_vectorizer
    start_id, end_id = translator.start_id, translator.end_id
    detokenize = translator.target_vectorizer.detokenize_tensor if translator.subword else None

    @tf.function(input_signature=[TEXT_SPEC])
    def translate(text):
        text = check_text(text)
        source = tf.cast(source_vectorizer(text), tf.int32)
        generated = decoder._greedy_loop(source, shrink=True)  # finished sentences leave the loop
        joined = join_tokens(generated, vocabulary, start_id, end_id, detokenize)
        has_words = tf.reduce_any(tf.not_equal(source, 0), axis=1)
        return {"translation": tf.where(has_words, joined, tf.fill(tf.shape(joined), ""))}

    translate.decoder = decoder
    return translate


def export_translator(translator, path):
    """Write a :class:`~keras_transformer.translator.Translator` as a SavedModel of text -> text.

    Args:
        translator: a ``Translator`` (``transformer``, ``gru`` or ``gru-attention`` model).
        path: folder to write (created; an existing SavedModel is replaced).

    Returns:
        ``path`` as a ``Path``. Signature ``serving_default``: ``text`` tf.string
        ``(B,)`` -> ``translation`` tf.string ``(B,)``, greedy and cached,
        equal to ``Decoder.greedy`` on the same sentences.

    Example::

        export_translator(Translator.load("output/translator"), "export/translator")
    """
    path = _check_path(path)
    translate = translation_function(translator)
    archive = keras.export.ExportArchive()
    _track(archive, translator.model)
    _track(archive, translator.source_vectorizer)  # its lookup table
    archive.add_endpoint(SIGNATURE, translate)
    archive.write_out(str(path), verbose=False)
    return path


__all__ = [
    "SIGNATURE",
    "classification_function",
    "count_tokens",
    "export_classifier",
    "export_translator",
    "find_vectorizer",
    "join_tokens",
    "sequence_length",
    "takes_strings",
    "translation_function",
]
