"""English as readers type it: capitals, lower case, no final mark, normalised by rules learned from training."""

import tensorflow as tf

from keras_transformer.translation.normalize import InputNormalizer
from tiny_models import make_pairs, tiny_subword_translator

TRAINING = ["Where is the cafe?", "Tom is here.", "I like Tom.", "Where are you?", "What is this?",
            "The cat sleeps.", "Is Tom here?", "Tom's cat is black.", "I am from Japan."]


def normalized(normalizer, texts):
    return [t.decode("utf-8") for t in normalizer(tf.constant(texts)).numpy()]


def test_capitals_and_lower_case_are_recased_and_the_final_mark_added():
    normalizer = InputNormalizer.learn(TRAINING)
    assert normalized(normalizer, ["WHERE IS THE CAFE", "where is the cafe", "tom is here", "I LIKE TOM"]) == [
        "Where is the cafe?", "Where is the cafe?", "Tom is here.", "I like Tom."]
    assert normalized(normalizer, ["where is tom's cat", "  THE CAT  SLEEPS!  ", "i am from japan"]) == [
        "Where is Tom's cat?", "The cat sleeps!", "I am from Japan."]


def test_what_a_reader_typed_well_is_left_as_typed_and_odd_input_has_a_defined_result():
    normalizer = InputNormalizer.learn(TRAINING)
    typed = ["Where is the cafe?", "tom is HERE.", "The cat sleeps!"]  # mixed case with a final mark: untouched
    assert normalized(normalizer, typed) == typed
    assert normalized(normalizer, ["", "日本語", "ÉTÉ", "Tom is here"]) == ["", "日本語.", "Été.", "Tom is here."]


def test_the_graph_and_a_reloaded_normalizer_agree():
    normalizer = InputNormalizer.learn(TRAINING)
    texts = ["WHERE IS TOM", "the cat sleeps", "Hello, Tom"]
    graph = tf.function(normalizer.__call__, input_signature=[tf.TensorSpec([None], tf.string)])
    assert normalized(graph, texts) == normalized(normalizer, texts)
    assert normalized(InputNormalizer.from_state(normalizer.get_state()), texts) == normalized(normalizer, texts)


def test_a_subword_translator_translates_capitals_lower_case_and_no_final_mark_as_the_sentence():
    translator = tiny_subword_translator()
    sentences = [e for e, _ in make_pairs(12, seed=6)]
    cased = translator.translate(sentences)
    assert translator.translate([s.upper() for s in sentences]) == cased
    assert translator.translate([s.lower() for s in sentences]) == cased
    assert translator.translate([s.rstrip(".!?") for s in sentences]) == cased
