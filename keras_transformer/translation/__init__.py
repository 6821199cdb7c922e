"""Chapter 11, second part: English->Spanish translation with GRU, GRU + attention, Transformer.

Data flows one way: pairs (``translation.pairs``) -> vocabularies, the book's words or
subword pieces behind one interface (``translation.vocabulary``) -> ``tf.data`` -> models
by name (``translation.models``) -> decoding, one step per model family and one greedy
and one beam loop (``translation.decoding``) -> text. :class:`Translator` holds the
vocabularies and the model (translate, evaluate, save, load); ``translation.scoring``
counts accuracies, BLEU and chrF; ``translation.export`` writes a SavedModel of text ->
text; ``translation.plots`` draws attention; ``translation.run`` is the chapter's run.

Example::

    from keras_transformer.translation import Translator
    Translator.load("output/ch11_translation/transformer/translator").translate(["Where is the cafe?"])
"""

from keras_transformer.translation.export import export_translator
from keras_transformer.translation.models import MODEL_NAMES, build_translation_model
from keras_transformer.translation.translator import Translator

__all__ = ["MODEL_NAMES", "Translator", "build_translation_model", "export_translator"]
