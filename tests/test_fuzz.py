"""Property-based fuzzing: arbitrary Unicode text never breaks the classifier or the translator."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras

from keras_transformer.classification.data import make_vectorizer
from keras_transformer.classification import build_classifier, end_to_end

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TextVectorization in tf")

TEXTS = ["a fine film", "a dull film", "great acting and a fine story", "bad plot, dull acting"]

# Arbitrary Unicode, with the awkward parts made likely: control characters,
# combining marks, emoji, right-to-left text, empty and very long strings.
awkward = st.sampled_from(["", " ", "\t\n", "\x00", "\u200b", "e\u0301", "😀👍🏽", "مرحبا", "中文", "[start]", "[end]"])
text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(awkward, st.text(max_size=8)), max_size=12).map(" ".join),
    st.integers(0, 3).map(lambda n: "word " * (400 * n)),
)
batches = st.lists(text, min_size=1, max_size=6)
fuzz = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    vectorizer = make_vectorizer("transformer-positional", vocab_size=50, sequence_length=32)
    vectorizer.adapt(TEXTS)
    model = build_classifier("transformer-positional", vocab_size=50, sequence_length=32,
                             embed_dim=8, num_heads=2, dense_dim=8)
    return end_to_end(vectorizer, model)


@pytest.fixture(scope="module")
def translator():
    from tiny_models import tiny_translator

    return tiny_translator()  # trained: its outputs depend on the input


@fuzz
@given(batch=batches)
def test_classifier_gives_one_probability_per_text(classifier, batch):
    probabilities = np.asarray(classifier(tf.constant(batch))).reshape(-1)
    assert probabilities.shape == (len(batch),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


@pytest.mark.slow
@fuzz
@given(batch=batches)
def test_translator_gives_each_text_the_translation_it_gets_alone(translator, batch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # over-long inputs warn by design
        outputs = translator.translate(batch)
        alone = [translator.translate([source])[0] for source in batch]
    assert outputs == alone  # batching, padding and other rows change nothing
    for source, output in zip(batch, outputs):
        assert isinstance(output, str) and "[start]" not in output and "[end]" not in output
        if not source.strip():
            assert output == ""
