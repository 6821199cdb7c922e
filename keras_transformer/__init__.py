"""keras_transformer: chapter 11 of Deep Learning with Python, in Keras 3.

Layers that are correct under masks, serializable and backend-agnostic
(importable from here and from `keras_transformer.layers`); importing the
package registers every one of them, so a saved chapter model loads with
`import keras_transformer` alone. The chapter's models are built by name in
`keras_transformer.models`, their data in `keras_transformer.data`, and
trained by `keras_transformer.training`.
"""

from keras_transformer.layers import *  # noqa: F401,F403
from keras_transformer.layers import __all__  # noqa: F401
from keras_transformer import optimizers as _optimizers  # noqa: F401 (registers the lazy optimizers for loading)

__version__ = "0.1.0"
