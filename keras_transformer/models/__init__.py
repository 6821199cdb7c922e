"""The chapter's models, built by name: IMDB classifiers and translators.

Example::

    from keras_transformer.models import build_classifier, build_translation_model
    classifier = build_classifier("transformer-positional")
    translator_model = build_translation_model("transformer")
"""

from keras_transformer.models.classifiers import build_classifier, end_to_end
from keras_transformer.models.seq2seq import build_translation_model

__all__ = ["build_classifier", "build_translation_model", "end_to_end"]
