"""Ship an IMDB classifier as a TensorFlow SavedModel of raw text -> P(positive review).

One signature, ``serving_default``: ``text`` tf.string ``(B,)`` -> ``probability`` tf.float32 ``(B,)``::

    from keras_transformer.classification import export_classifier
    export_classifier(end_to_end_model, "export/imdb")
    # anywhere with TensorFlow only (no keras, no keras_transformer):
    serve = tf.saved_model.load("export/imdb").signatures["serving_default"]
    serve(text=tf.constant(["A fine film."]))["probability"]
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_transformer.data.serving import TEXT_SPEC, check_text, require_tensorflow, write_archive


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
    require_tensorflow()
    tracked = (model,) if vectorizer is None else (model, vectorizer)  # variables, and the lookup table
    return write_archive(path, classification_function(model, vectorizer), *tracked)


__all__ = ["classification_function", "export_classifier", "find_vectorizer", "takes_strings"]
