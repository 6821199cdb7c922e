"""IMDB movie-review sentiment data (Maas et al., 2011), as the chapter uses it.

The chapter downloads ``aclImdb_v1.tar.gz``, deletes ``train/unsup``, moves 20%
of the training files (per class, shuffled with ``random.Random(1337)``) into a
validation folder and reads the folders with ``text_dataset_from_directory``.
Here the same split is done on file lists in memory, without touching the
files, after sorting them so that the split depends on the seed only.

Example::

    train_ds, val_ds, test_ds = load_imdb("../shared/datasets/aclImdb_labeled.tar.gz")
    texts, labels = next(iter(train_ds))   # shapes (32,) tf.string, (32,) int32
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import NamedTuple

from keras_transformer.data.download import DatasetSpec, resolve
from keras_transformer.classification.models import BAG_OF_WORDS, PADDING_INVARIANT, check_name
from keras_transformer.data.batching import batch_by_length, batched, fill_batch, longest

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SPEC = DatasetSpec(
    name="IMDB",
    url=IMDB_URL,
    fname="aclImdb_v1.tar.gz",
    sha256={
        "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe": (
            "aclImdb_v1.tar.gz as published"
        ),
        "e3fb5ff8b24a60873065414bf2a746fc7cc6966b8ce0b1bf4e5d888e6948f6f3": (
            "aclImdb_labeled.tar.gz (offline copy without train/unsup)"
        ),
    },
    archive_names=("aclImdb_labeled.tar.gz", "aclImdb_v1.tar.gz"),
    root="aclImdb",
    required=("train/pos", "train/neg", "test/pos", "test/neg"),
)

# Alphabetical, as text_dataset_from_directory numbers the class folders.
CLASS_NAMES = ("neg", "pos")


class TextSplit(NamedTuple):
    """One split as plain lists: ``texts[i]`` has label ``labels[i]`` (0=neg, 1=pos)."""

    texts: list[str]
    labels: list[int]


def _check_args(validation_split: float, source: str) -> None:
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"validation_split={validation_split!r} must be in [0, 1); use e.g. 0.2."
        )
    if source not in ("archive", "tfds"):
        raise ValueError(f"source={source!r} is not supported; use 'archive' or 'tfds'.")


def _split_class(items: list, validation_split: float, seed: int) -> tuple[list, list]:
    """Shuffle a sorted list with ``random.Random(seed)``; last fraction -> val."""
    items = sorted(items)
    random.Random(seed).shuffle(items)
    num_val = int(validation_split * len(items))
    # Not items[-num_val:]: with num_val == 0 that would be everything.
    cut = len(items) - num_val
    return items[:cut], items[cut:]


def _read(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        # errors="replace": one odd byte should not abort reading 50k reviews.
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    return texts


def _class_files(folder: Path) -> dict[int, list[Path]]:
    """``{label: [files]}`` for ``folder/{neg,pos}/*.txt``; other folders (unsup) ignored."""
    files = {}
    for label, name in enumerate(CLASS_NAMES):
        with os.scandir(folder / name) as it:
            files[label] = [Path(e.path) for e in it if e.name.endswith(".txt") and e.is_file()]
    return files


def _shuffled(pairs: list[tuple], seed: int) -> TextSplit:
    """Mix the classes in a seed-determined order and unzip into a TextSplit."""
    random.Random(seed).shuffle(pairs)
    return TextSplit([t for t, _ in pairs], [y for _, y in pairs])


def load_imdb_texts(
    data_dir: str | os.PathLike | None = None,
    source: str = "archive",
    validation_split: float = 0.2,
    seed: int = 1337,
) -> tuple[TextSplit, TextSplit, TextSplit]:
    """Load IMDB reviews as plain Python lists, split into train/val/test.

    ``validation_split`` of each class's training reviews goes to validation,
    chosen by ``random.Random(seed)`` on the sorted file list (the chapter's
    recipe, made reproducible): the split is a pure function of ``seed``.
    ``train/unsup`` is never read. Each split's order is shuffled with ``seed``
    so classes are mixed.

    Args:
        data_dir: for ``source="archive"``: an archive, an extracted folder or
            ``None`` (see :func:`keras_transformer.data.download.resolve`). For
            ``source="tfds"``: the tensorflow_datasets data folder (or None).
        source: ``"archive"`` (aclImdb files) or ``"tfds"`` (``imdb_reviews``).
        validation_split: fraction of training reviews held out, in [0, 1).
        seed: split and order seed (the chapter uses 1337).

    Returns:
        ``(train, val, test)`` :class:`TextSplit` lists; with the full data
        20,000 / 5,000 / 25,000 reviews.

    Example::

        train, val, test = load_imdb_texts()
        vectorizer.adapt(train.texts)
    """
    _check_args(validation_split, source)
    if source == "tfds":
        return _load_tfds_texts(data_dir, validation_split, seed)

    root = resolve(IMDB_SPEC, data_dir)
    train_pairs, val_pairs, test_pairs = [], [], []
    for label, files in _class_files(root / "train").items():
        train_files, val_files = _split_class(files, validation_split, seed)
        train_pairs += zip(_read(train_files), [label] * len(train_files))
        val_pairs += zip(_read(val_files), [label] * len(val_files))
    for label, files in _class_files(root / "test").items():
        files = sorted(files)
        test_pairs += zip(_read(files), [label] * len(files))
    return (
        _shuffled(train_pairs, seed),
        _shuffled(val_pairs, seed),
        _shuffled(test_pairs, seed),
    )


def _load_tfds_texts(data_dir, validation_split: float, seed: int):
    """Same split mechanism on ``imdb_reviews`` from tensorflow_datasets."""
    import tensorflow_datasets as tfds  # Optional path; keep import local.

    train, test = tfds.load(
        "imdb_reviews",
        split=["train", "test"],
        as_supervised=True,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        shuffle_files=False,
    )

    def per_class(ds):
        by_label = {0: [], 1: []}
        for text, label in tfds.as_numpy(ds):
            by_label[int(label)].append(text.decode("utf-8", errors="replace"))
        return by_label

    train_pairs, val_pairs, test_pairs = [], [], []
    for label, texts in per_class(train).items():
        # Sorting the texts (tfds has no file names) makes the split
        # independent of the order tfds yields examples in.
        tr, va = _split_class(texts, validation_split, seed)
        train_pairs += [(t, label) for t in tr]
        val_pairs += [(t, label) for t in va]
    for label, texts in per_class(test).items():
        test_pairs += [(t, label) for t in sorted(texts)]
    return (
        _shuffled(train_pairs, seed),
        _shuffled(val_pairs, seed),
        _shuffled(test_pairs, seed),
    )


def to_dataset(split: TextSplit, batch_size: int = 32, shuffle: bool = False, seed: int | None = None):
    """Batched ``tf.data.Dataset`` of ``(text: tf.string (B,), label: int32 (B,))``.

    ``shuffle=True`` reshuffles every epoch (for training).

    Example::

        ds = to_dataset(train, batch_size=32, shuffle=True, seed=1337)
    """
    import tensorflow as tf

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer, e.g. 32.")
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(split.texts, dtype=tf.string), tf.constant(split.labels, dtype=tf.int32))
    )
    if shuffle and split.texts:
        ds = ds.shuffle(len(split.texts), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_imdb(
    data_dir: str | os.PathLike | None = None,
    source: str = "archive",
    validation_split: float = 0.2,
    seed: int = 1337,
    batch_size: int = 32,
):
    """Load IMDB as ``(train_ds, val_ds, test_ds)`` batched tf.data datasets.

    Each element is ``(texts, labels)``: ``tf.string`` of shape ``(B,)`` and
    ``int32`` of shape ``(B,)`` with 0 = negative, 1 = positive. The training
    set is reshuffled every epoch (seeded by ``seed``); validation and test
    keep a fixed, class-mixed order. See :func:`load_imdb_texts` for the
    arguments and the split.

    Example::

        train_ds, val_ds, test_ds = load_imdb()
        model.fit(train_ds, validation_data=val_ds)
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer, e.g. 32.")
    train, val, test = load_imdb_texts(data_dir, source, validation_split, seed)
    return (
        to_dataset(train, batch_size, shuffle=True, seed=seed),
        to_dataset(val, batch_size),
        to_dataset(test, batch_size),
    )


# ---------------------------------------------------------------------------
# Vectorizing for the chapter's classifiers, by model name.


def make_vectorizer(name, vocab_size=20000, sequence_length=600):
    """The ``TextVectorization`` layer that feeds model ``name`` (not yet adapted).

    Bag-of-words models get multi-hot unigrams, multi-hot uni+bigrams, or
    TF-IDF uni+bigrams (each a `(B, vocab_size)` float vector); sequence
    models get `(B, sequence_length)` integer ids, 0 = padding, 1 = unknown.

    Example::

        vectorizer = make_vectorizer("bigram")
        vectorizer.adapt(train_texts)      # training text only
        vectorizer(["a fine film"]).shape  # (1, 20000)
    """
    check_name(name)
    from keras import layers

    from keras_transformer.layers.text import standardize_text

    common = dict(max_tokens=vocab_size, standardize=standardize_text, name=f"{name}_vectorizer")
    # pad_to_max_tokens: the vector is vocab_size wide even when the adapted
    # text has fewer distinct tokens, so it always fits the model's input.
    bag = dict(pad_to_max_tokens=True, **common)
    if name == "unigram":
        return layers.TextVectorization(output_mode="multi_hot", **bag)
    if name == "bigram":
        return layers.TextVectorization(output_mode="multi_hot", ngrams=2, **bag)
    if name == "bigram-tfidf":
        return layers.TextVectorization(output_mode="tf_idf", ngrams=2, **bag)
    return layers.TextVectorization(
        output_mode="int", output_sequence_length=sequence_length, **common
    )


def make_dataset(name, vectorizer, split, batch_size=32, shuffle=False, seed=None, trim_padding=True, epoch=None,
                 width_multiple=1, fixed_batch=False):
    """A ``tf.data`` pipeline of `(vectorized text, label)` for model ``name``.

    ``split`` has ``.texts`` and ``.labels`` (see ``load_imdb_texts``).
    Bag-of-words vectors are computed on the fly (caching 20,000-wide floats
    would cost gigabytes). Token ids are computed once. For the
    padding-invariant models (``PADDING_INVARIANT``) and ``trim_padding=True``,
    each review keeps only its real tokens (at most ``sequence_length``) and
    batches are formed from reviews of similar length, padded to the
    batch's longest: the model's outputs are the same as with every review
    padded to 600 (their mask hides the padding), at a fraction of the cost.
    The unmasked LSTMs always get the book's fixed length, padding included.
    ``width_multiple`` pads each such batch up to a multiple of that many
    tokens (never past ``sequence_length``; buckets are then that wide), so a
    compiling backend (JAX) sees a handful of widths instead of hundreds.
    ``fixed_batch=True`` fills every smaller batch (the last of each length
    bucket) with all-padding rows up to ``batch_size`` and adds sample
    weights, 1 for a review and 0 for a filler row: elements are then
    ``(ids, labels, weights)`` and every batch has ``batch_size`` rows, so a
    compiled step serves all the batches of a width. Train such batches with a
    loss that divides by the weights' sum (``build_classifier(...,
    fixed_batch=True)``): losses, gradients and accuracy are then those of the
    unfilled batches.
    ``shuffle``, ``seed`` and ``epoch`` are those of
    :func:`keras_transformer.data.batching.batched`: with an ``epoch`` counter,
    each epoch's order is a function of ``(seed, epoch)``. The dataset's
    cardinality is its number of batches.
    """
    import tensorflow as tf

    check_name(name)
    texts = tf.constant(list(split.texts), dtype=tf.string)
    labels = tf.constant(list(split.labels), dtype=tf.int32)
    order = dict(shuffle=shuffle, seed=seed, epoch=epoch)
    full_batches = -(-len(split.texts) // batch_size)

    def filled(batches):  # every batch batch_size rows, weighted, with fixed_batch
        return batches.map(fill_batch(batch_size, weights=True)) if fixed_batch else batches

    if name in BAG_OF_WORDS:
        # Vectors are made per batch: keeping 20,000-wide floats would cost gigabytes.
        def vectorized(d):
            return filled(d.batch(batch_size).map(lambda x, y: (vectorizer(x), y),
                                                  num_parallel_calls=tf.data.AUTOTUNE))

        return batched((texts, labels), vectorized, count=full_batches, **order)

    # Token ids are computed once, here, for every epoch.
    ids = tf.concat([vectorizer(texts[i : i + 2048]) for i in range(0, len(split.texts), 2048)], axis=0)
    if not (trim_padding and name in PADDING_INVARIANT):
        return batched((ids, labels), lambda d: filled(d.batch(batch_size)), count=full_batches, **order)

    # Id 0 is padding only, and it only trails: the real length is the count of non-zeros.
    by_length = lambda d: filled(batch_by_length(  # noqa: E731
        d, batch_size, vectorizer.get_config()["output_sequence_length"],
        lambda ids, label: tf.maximum(tf.math.count_nonzero(ids, dtype=tf.int32), 1),
        lambda ids, label, multiple: (ids[:, : longest(ids, multiple)], label), bucket_width=32,
        width_multiple=width_multiple))
    return batched((ids, labels), by_length, **order)
