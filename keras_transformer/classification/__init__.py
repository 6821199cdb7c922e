"""Chapter 11, first part: IMDB sentiment classification, from bag-of-words to a Transformer.

- ``classification.data``: the reviews, split as the book does; vectorizers and ``tf.data``
  pipelines by model name.
- ``classification.models``: the chapter's classifiers by name; ``end_to_end`` (raw text in).
- ``classification.export``: a SavedModel of raw text -> P(positive).
- ``classification.run``: the chapter's run, from a recipe's settings to ``results.json``.

Example::

    from keras_transformer.classification import build_classifier, end_to_end
    model = build_classifier("transformer-positional")
"""

from keras_transformer.classification.export import export_classifier
from keras_transformer.classification.models import MODEL_NAMES, build_classifier, end_to_end

__all__ = ["MODEL_NAMES", "build_classifier", "end_to_end", "export_classifier"]
