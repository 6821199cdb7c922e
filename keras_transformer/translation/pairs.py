"""English -> Spanish sentence pairs (Tatoeba via manythings.org), as the chapter uses them.

Pipeline, as in the book::

    pairs, skipped = load_pairs()                       # [(english, spanish), ...]
    train, val, test = split_pairs(pairs)               # 70 / 15 / 15 %, seed 1337
    source_vec, target_vec = make_vectorizers(train)    # adapt on train only
    train_ds = make_dataset(train, source_vec, target_vec)
    # elements: ({"english": (B, 20), "spanish": (B, 20)}, (B, 20)) int64

Spanish targets are wrapped as ``"[start] " + spanish + " [end]"`` by
:func:`make_vectorizers` and :func:`make_dataset` (see :func:`wrap_target`);
the pairs themselves stay raw, which is what BLEU scoring wants.
"""

from __future__ import annotations

import logging
import os
import random
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_transformer.data.download import DatasetSpec, resolve
from keras_transformer.data.batching import batch_by_length, batched, fill_batch, longest
from keras_transformer.layers.text import END_TOKEN, START_TOKEN

logger = logging.getLogger(__name__)

SPA_ENG_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SPA_ENG_SPEC = DatasetSpec(
    name="spa-eng",
    url=SPA_ENG_URL,
    fname="spa-eng.zip",
    sha256={
        "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f": (
            "spa-eng.zip as published"
        )
    },
    archive_names=("spa-eng.zip",),
    root="spa-eng",
    required=("spa.txt",),
)




class LoadedPairs(NamedTuple):
    """``pairs``: ``[(english, spanish), ...]``; ``skipped``: malformed lines dropped."""

    pairs: list[tuple[str, str]]
    skipped: int


def parse_pairs(text: str) -> LoadedPairs:
    """Parse ``english<TAB>spanish`` lines; skip and count malformed ones.

    A line is malformed if it has no tab or an empty side (after stripping
    whitespace). Extra tab-separated columns (Tatoeba attribution) are ignored.

    Example::

        parse_pairs("Go.\\tVe.\\nbroken line\\n")  # LoadedPairs([("Go.", "Ve.")], 1)
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # The newline ending the last line is not a line.
    pairs, skipped = [], 0
    for line in lines:
        fields = line.rstrip("\r").split("\t")
        english = fields[0].strip()
        spanish = fields[1].strip() if len(fields) > 1 else ""
        if not english or not spanish:
            skipped += 1
            continue
        pairs.append((english, spanish))
    return LoadedPairs(pairs, skipped)


def load_pairs(data_dir: str | os.PathLike | None = None) -> LoadedPairs:
    """Load all English/Spanish pairs from ``spa-eng/spa.txt``.

    Args:
        data_dir: ``spa-eng.zip``, a folder holding it or the extracted
            ``spa-eng/`` folder, or ``None`` (``$KERAS_TRANSFORMER_DATA_DIR``,
            else download); see :func:`keras_transformer.data.download.resolve`.

    Returns:
        ``LoadedPairs(pairs, skipped)``; the published file gives 118,964
        pairs and 0 skipped. Skipped lines are also logged as a warning.

    Example::

        pairs, skipped = load_pairs("../shared/datasets/spa-eng.zip")
        pairs[0]  # ("Go.", "Ve.")
    """
    root = resolve(SPA_ENG_SPEC, data_dir)
    with open(root / "spa.txt", encoding="utf-8") as f:
        loaded = parse_pairs(f.read())
    if loaded.skipped:
        logger.warning("Skipped %d malformed lines in %s.", loaded.skipped, root / "spa.txt")
    return loaded


def split_pairs(
    pairs: list[tuple[str, str]],
    seed: int = 1337,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
) -> tuple[list, list, list]:
    """Shuffle a copy of ``pairs`` with ``random.Random(seed)`` and cut it.

    As in the book, the validation and test sizes are ``int(fraction * n)``
    and training gets the rest (83,276 / 17,844 / 17,844 for the full file).
    The input list is not modified.

    Example::

        train, val, test = split_pairs(pairs, seed=1337)
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            f"fractions={fractions!r} must be three non-negative numbers summing "
            "to 1, e.g. (0.70, 0.15, 0.15)."
        )
    pairs = list(pairs)
    random.Random(seed).shuffle(pairs)
    num_val = int(fractions[1] * len(pairs))
    num_test = int(fractions[2] * len(pairs))
    num_train = len(pairs) - num_val - num_test
    return (
        pairs[:num_train],
        pairs[num_train : num_train + num_val],
        pairs[num_train + num_val :],
    )


def unseen_in_training(pairs, train_pairs):
    """One boolean per pair: True where its English sentence occurs nowhere in ``train_pairs``.

    Tatoeba gives several Spanish translations of one English sentence, so a
    random split puts some test sentences in training too; scores on the
    unseen pairs alone measure translation of new sentences.

    Example: ``unseen_in_training([("Go.", "Ve.")], [("Go.", "Vete.")]) -> [False]``.
    """
    seen = {english for english, _ in train_pairs}
    return [english not in seen for english, _ in pairs]


def wrap_target(spanish: str) -> str:
    """``"[start] " + spanish + " [end]"``; already wrapped text is returned unchanged.

    Example: ``wrap_target("Ve.") -> "[start] Ve. [end]"``.
    """
    if spanish.startswith(START_TOKEN + " ") and spanish.endswith(" " + END_TOKEN):
        return spanish
    return f"{START_TOKEN} {spanish} {END_TOKEN}"


def _vectorize(vectorizer, texts: list[str], chunk: int = 8192):
    """Run ``vectorizer`` eagerly over ``texts`` in chunks; int64 NumPy ``(N, L)``."""
    parts = [
        keras.ops.convert_to_numpy(vectorizer(np.array(texts[i : i + chunk])))
        for i in range(0, len(texts), chunk)
    ]
    return np.concatenate(parts).astype("int64")


def _cut(inputs, targets, *weights_then_multiple):
    # Source and target separately; the target (and its weights) keeps the padding step after [end].
    *weights, width_multiple = weights_then_multiple
    source_len, target_len = longest(inputs["english"], width_multiple), longest(inputs["spanish"], width_multiple)
    return ({"english": inputs["english"][:, :source_len], "spanish": inputs["spanish"][:, :target_len]},
            targets[:, :target_len], *(w[:, :target_len] for w in weights))


def _pair_length(inputs, *_):
    real = lambda ids: tf.math.count_nonzero(ids, dtype=tf.int32)  # noqa: E731
    return tf.maximum(real(inputs["english"]), real(inputs["spanish"]))


def make_dataset(
    pairs: list[tuple[str, str]],
    source_vec,
    target_vec,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int | None = None,
    by_length: bool = False,
    epoch=None,
    width_multiple: int = 1,
    fixed_batch: bool = False,
    sample_weights: bool = False,
):
    """Batched translation dataset, as the book's ``make_dataset``.

    Each element is ``({"english": (B, L), "spanish": (B, L)}, (B, L))`` int64,
    with ``L = sequence_length``: ``"spanish"`` is the wrapped target without
    its last token (decoder input) and the label is it without its first token
    (next-token target). ``shuffle=True`` reshuffles the pairs every epoch
    (pass ``False`` for evaluation).

    ``by_length=True`` batches each pair with pairs of about its length
    (within two tokens) and cuts every batch to its longest pair, so ``L``
    varies by batch. Most pairs are far shorter than 20 tokens, so an epoch
    does a fraction of the book's work; the model's masks make the loss,
    accuracy and predictions of each pair the same as with full padding.
    Batches are still random (the pairs are shuffled before grouping); a
    batch may hold fewer than ``batch_size`` pairs at the end of an epoch.
    ``width_multiple`` (with ``by_length``) pads each batch to a multiple of
    that many tokens instead (see :func:`keras_transformer.data.batching.batch_by_length`). ``epoch`` (see :func:`keras_transformer.data.batching.batched`) makes each
    epoch's order a function of ``(seed, epoch)``; the dataset's cardinality
    is its number of batches. ``fixed_batch=True`` fills every smaller batch
    with all-padding pairs up to ``batch_size``: the batch axis is then the
    same for every batch (one compiled step per width), and the output mask
    hides every token of the filler rows from the loss and the accuracy.

    ``sample_weights=True`` adds a third element, ``(B, L)`` float32 weights that are 1 at
    real target tokens and 0 at padding, as the book's 3rd edition (chapter 15) trains with
    ``weighted_metrics=["accuracy"]``: that weighted accuracy is this package's measure (b).

    Example::

        train_ds = make_dataset(train_pairs, source_vec, target_vec, by_length=True)
        inputs, targets = next(iter(train_ds))
    """
    if not pairs:
        raise ValueError("pairs is empty; pass a non-empty list of (english, spanish) pairs.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer, e.g. 64.")
    # Vectorize once, eagerly, instead of in a tf.data map as the book does:
    # the result is the same, it is computed once rather than cached, and it
    # also works with the JAX backend, where TextVectorization cannot run a
    # custom standardize callable inside a tf.data graph.
    english = _vectorize(source_vec, [eng for eng, _ in pairs])
    spanish = _vectorize(target_vec, [wrap_target(spa) for _, spa in pairs])
    examples = ({"english": english, "spanish": spanish[:, :-1]}, spanish[:, 1:])
    if sample_weights:  # the 3rd edition's: 1 at real target tokens, 0 at padding
        examples += ((spanish[:, 1:] != 0).astype("float32"),)
    order = dict(shuffle=shuffle, seed=seed, epoch=epoch)
    fill = (lambda batches: batches.map(fill_batch(batch_size))) if fixed_batch else (lambda batches: batches)
    if by_length:
        return batched(examples, lambda d: fill(batch_pairs_by_length(d, batch_size, english.shape[1],
                                                                      width_multiple)), **order)
    return batched(examples, lambda d: fill(d.batch(batch_size)), count=-(-len(pairs) // batch_size), **order)


def batch_pairs_by_length(pairs, batch_size, sequence_length, width_multiple=1):
    """Batch unbatched ``({"english", "spanish"}, target)`` pairs by length, each batch cut to its longest.

    Pairs whose longer side has about the same number of real tokens (buckets two
    tokens wide, or ``width_multiple``) share a batch; see
    :func:`keras_transformer.data.batching.batch_by_length`.
    """
    return batch_by_length(pairs, batch_size, sequence_length, _pair_length, _cut, first_boundary=max(4, width_multiple),
                           width_multiple=width_multiple)
