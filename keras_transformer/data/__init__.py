"""Data for chapter 11: IMDB reviews and English->Spanish pairs.

Every loader takes ``data_dir``: an archive, an extracted folder, or ``None``
(``$KERAS_TRANSFORMER_DATA_DIR``, else download into ``$KERAS_HOME/datasets``).

Example::

    from keras_transformer.data import load_imdb, load_pairs, split_pairs
    train_ds, val_ds, test_ds = load_imdb("../shared/datasets")
"""

from keras_transformer.data.download import (
    DATA_DIR_ENV,
    DatasetSpec,
    extract,
    fetch,
    resolve,
    sha256sum,
)
from keras_transformer.data.imdb import IMDB_SPEC, TextSplit, load_imdb, load_imdb_texts, to_dataset
from keras_transformer.data.spa_eng import (
    END_TOKEN,
    SPA_ENG_SPEC,
    START_TOKEN,
    LoadedPairs,
    custom_standardization,
    load_pairs,
    make_dataset,
    make_vectorizers,
    parse_pairs,
    split_pairs,
    wrap_target,
)
from keras_transformer.data.subwords import SubwordVectorizer, learn_sentencepiece, make_subword_vectorizers

__all__ = [
    "DATA_DIR_ENV",
    "DatasetSpec",
    "END_TOKEN",
    "IMDB_SPEC",
    "LoadedPairs",
    "SPA_ENG_SPEC",
    "START_TOKEN",
    "SubwordVectorizer",
    "TextSplit",
    "custom_standardization",
    "extract",
    "fetch",
    "load_imdb",
    "load_imdb_texts",
    "learn_sentencepiece",
    "load_pairs",
    "make_dataset",
    "make_subword_vectorizers",
    "make_vectorizers",
    "parse_pairs",
    "resolve",
    "sha256sum",
    "split_pairs",
    "to_dataset",
    "wrap_target",
]
