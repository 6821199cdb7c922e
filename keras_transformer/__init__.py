"""keras_transformer: chapter 11 of Deep Learning with Python, in Keras 3.

Layers that are correct under masks, serializable and backend-agnostic
(importable from here and from `keras_transformer.layers`); importing the
package registers every one of them, so a saved chapter model loads with
`import keras_transformer` alone. The chapter's two halves are
`keras_transformer.classification` (IMDB) and `keras_transformer.translation`
(English->Spanish); both train through `keras_transformer.training`, share
`keras_transformer.data`, and run named recipes (`keras_transformer.recipes`).
"""

from keras_transformer.layers import *  # noqa: F401,F403
from keras_transformer.layers import __all__  # noqa: F401
from keras_transformer.training import optimizers as _optimizers  # noqa: F401 (registers the lazy optimizers for loading)

__version__ = "0.1.0"
