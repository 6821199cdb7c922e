"""What both halves of the chapter share in their data: downloads, archives, batching, serving.

Every loader takes ``data_dir``: an archive, an extracted folder, or ``None``
(``$KERAS_TRANSFORMER_DATA_DIR``, else download into ``$KERAS_HOME/datasets``).
The datasets themselves are the tasks': ``keras_transformer.classification.data``
(IMDB reviews) and ``keras_transformer.translation.pairs`` (English->Spanish pairs).
"""

from keras_transformer.data.download import DATA_DIR_ENV, DatasetSpec, extract, fetch, resolve, sha256sum

__all__ = ["DATA_DIR_ENV", "DatasetSpec", "extract", "fetch", "resolve", "sha256sum"]
