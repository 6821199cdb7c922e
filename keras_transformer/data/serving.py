"""What both exports share: a SavedModel signature of raw text, checked, and the archive that holds it.

Each half of the chapter ships its trained model as a TensorFlow SavedModel with one
signature, ``serving_default``, whose input is ``text``, a ``(B,)`` batch of raw UTF-8
strings (see ``classification.export`` and ``translation.export``).
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


def require_tensorflow():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"SavedModel export needs the TensorFlow backend (KERAS_BACKEND={keras.backend.backend()!r}); "
            "rerun with KERAS_BACKEND=tensorflow."
        )


def check_path(path):
    require_tensorflow()
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{str(path)!r} is a file; pass a folder to export the SavedModel to.")
    return path


def track(archive, layer):
    for resource in getattr(layer, "trackables", [layer]):  # a vocabulary names what holds its tables
        # A vectorizer rebuilt from its vocabulary (Translator.load) is not built
        # until first called, and ExportArchive refuses unbuilt layers.
        if not getattr(resource, "built", True):
            resource.build(None)
        archive.track(resource)




def write_archive(path, endpoint, *tracked):
    """Write a SavedModel at ``path`` whose ``serving_default`` is ``endpoint``, tracking ``tracked`` layers."""
    path = check_path(path)
    archive = keras.export.ExportArchive()
    for layer in tracked:
        track(archive, layer)
    archive.add_endpoint(SIGNATURE, endpoint)
    archive.write_out(str(path), verbose=False)
    return path


def sequence_length(vectorizer):
    """The length a ``TextVectorization`` (or a vocabulary) cuts to, or None (bag-of-words, no cut)."""
    config = vectorizer.get_config()
    if config.get("output_mode", "int") != "int":
        return None
    return config.get("output_sequence_length")


def count_words(layer, texts):
    """Tokens each text has after a ``TextVectorization``'s standardization and split (before it cuts).

    ``list[str] -> list[int]``, for a warning about inputs the model sees only the start of.
    """
    if not len(texts):
        return []
    try:  # the layer's own standardize + split, so the count is exact
        tokens = layer._preprocess(tf.constant(list(texts), dtype=tf.string))
        return [int(n) for n in tokens.row_lengths().numpy()]
    except Exception:  # a future Keras without _preprocess: a close estimate
        return [len(re.findall(r"\w+", text)) for text in texts]
