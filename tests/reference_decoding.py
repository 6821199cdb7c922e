"""The book's decoding loop, uncached: what the package's cached loop must equal, token for token.

It runs the whole model on the whole prefix at every step, as the chapter's own
``decode_sequence`` does, batched; it lives here, beside the tests that check
``keras_transformer.translation.decoding.Decoder`` against it.
"""

import numpy as np
from keras import ops

from keras_transformer.translation.decoding import ends, to_token_lists


def full_recompute_greedy(model, source, start_id, end_id, max_length=20):
    """`(B, S)` source ids -> `(B, max_length)` greedy ids, 0 after each sentence's end."""
    source = ops.convert_to_numpy(source).astype("int64")
    tokens = np.pad(np.full((source.shape[0], 1), start_id, "int64"), [[0, 0], [0, max_length]])
    done = np.zeros(source.shape[0], bool)
    for index in range(max_length):
        probabilities = model({"english": source, "spanish": tokens[:, :-1]}, training=False)
        next_token = np.where(done, 0, np.argmax(ops.convert_to_numpy(probabilities)[:, index], axis=-1))
        tokens[:, index + 1] = next_token
        done |= ops.convert_to_numpy(ends(next_token, end_id)).astype(bool)
        if done.all():
            break
    return tokens[:, 1:].astype("int32")


def book_translate(translator, sentences):
    """``translator.translate(sentences)`` by the uncached loop: texts, "" for a source with no token."""
    source = np.asarray(translator.source_vectorizer(np.array(sentences, dtype=object)))
    outputs = [""] * len(sentences)
    rows = [i for i, row in enumerate(source) if row.any()]
    if rows:
        width = max(int((source[rows] != 0).sum(axis=1).max()), 1)
        generated = full_recompute_greedy(translator.model, source[rows, :width], translator.start_id,
                                          translator.end_id, translator.max_length)
        for row, text in zip(rows, translator.texts(to_token_lists(generated, translator.end_id))):
            outputs[row] = text
    return outputs
