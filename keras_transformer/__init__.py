"""keras_transformer: chapter 11 of Deep Learning with Python, in Keras 3.

Layers that are correct under masks, serializable and backend-agnostic
(importable from here and from `keras_transformer.layers`), plus, in their
own modules, the chapter's IMDB classifiers (`models.classifiers`) and
English-to-Spanish translators (`models.seq2seq`, `translator`, `decoding`).
"""

from keras_transformer.layers import *  # noqa: F401,F403
from keras_transformer.layers import __all__  # noqa: F401

__version__ = "0.1.0"
