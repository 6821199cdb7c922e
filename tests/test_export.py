"""Export: .keras round trips in a fresh process, SavedModels of raw text, bad input.

The chain a user ships with: a trained tiny translator and classifier are
saved, reloaded in a fresh process (``safe_mode=True``) with identical
outputs, exported there, then served by ``tf.saved_model.load`` in a process
where ``import keras`` fails, and by ``saved_model_cli run`` -- always giving
what the Keras objects gave.
"""

import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import (  # noqa: E402
    LENGTH,
    REVIEW_LENGTH,
    REVIEWS,
    SENTENCES,
    finish,
    finish_json,
    reference_translations,
    start,
    tiny_classifier,
    tiny_translator,
)

from keras_transformer.classification import export as classifier_export  # noqa: E402
from keras_transformer.data import serving  # noqa: E402
from keras_transformer.translation import export as translator_export  # noqa: E402
from keras_transformer.translation.decoding import kept_tokens  # noqa: E402
from keras_transformer.translation.vocabulary import WordVectorizer  # noqa: E402


@pytest.fixture(scope="module")
def translator():
    return tiny_translator()


@pytest.fixture(scope="module")
def classifier():
    """``(end_to_end model, classifier, vectorizer)``, transformer-positional."""
    return tiny_classifier()


@pytest.fixture(scope="module")
def expected(translator, classifier):
    """What the in-process Keras objects give for SENTENCES and REVIEWS."""
    return {
        "translation": reference_translations(translator, SENTENCES),
        "probability": np.asarray(classifier[0](tf.constant(REVIEWS))).reshape(-1).tolist(),
    }


def _start_round_trip(kind, saved, exported):
    """Load ``saved`` with safe_mode=True in a new process, run it, export it to ``exported``."""
    if kind == "translator":
        body = f"""
            from keras_transformer.translation.translator import Translator
            obj = Translator.load({str(saved)!r})
            outputs = obj.translate({SENTENCES!r})
            export_translator(obj, {str(exported)!r})
        """
    else:
        body = f"""
            import keras, tensorflow as tf
            import keras_transformer  # registers every custom layer
            obj = keras.saving.load_model({str(saved)!r}, safe_mode=True)
            outputs = obj(tf.constant({REVIEWS!r})).numpy().reshape(-1).tolist()
            export_classifier(obj, {str(exported)!r})
        """
    code = ("import json\nfrom keras_transformer.classification import export_classifier\n"
            "from keras_transformer.translation import export_translator\n" + textwrap.dedent(body))
    code += "print(json.dumps(outputs))\n"
    return start(code)


@pytest.fixture(scope="module")
def chain(translator, classifier, tmp_path_factory):
    """Save -> fresh-process load (safe_mode) -> outputs and SavedModel export, per object."""
    root = tmp_path_factory.mktemp("chain")
    translator.save(root / "translator")
    classifier[0].save(root / "imdb.keras")
    translator_run = _start_round_trip("translator", root / "translator", root / "translator_export")
    classifier_run = _start_round_trip("classifier", root / "imdb.keras", root / "imdb_export")
    return {
        "translator": (finish_json(translator_run), root / "translator_export"),
        "classifier": (finish_json(classifier_run), root / "imdb_export"),
    }


# ---- .keras round trip -----------------------------------------------------


def test_translator_reloads_in_a_fresh_process_with_identical_translations(chain, translator):
    reloaded, _ = chain["translator"]
    assert reloaded == translator.translate(SENTENCES)


def test_classifier_reloads_in_a_fresh_process_with_identical_probabilities(chain, expected):
    reloaded, _ = chain["classifier"]
    np.testing.assert_allclose(reloaded, expected["probability"], rtol=0, atol=1e-6)


# ---- SavedModel served without keras ---------------------------------------

SERVE_WITHOUT_KERAS = """
import json, sys
# Any import of keras or keras_transformer now fails: the SavedModels must not need them.
sys.modules["keras"] = None
sys.modules["keras_transformer"] = None
import tensorflow as tf

def run(path, texts, key):
    serve = tf.saved_model.load(path).signatures["serving_default"]
    values = serve(text=tf.constant(texts, dtype=tf.string))[key].numpy()
    return [v.decode("utf-8") if isinstance(v, bytes) else float(v) for v in values]

def error(path, value):
    serve = tf.saved_model.load(path).signatures["serving_default"]
    try:
        serve(text=value)
    except Exception as e:
        return type(e).__name__ + ": " + str(e)
    return None

translator, classifier = sys.argv[1], sys.argv[2]
result = {
    "translation": run(translator, SENTENCES, "translation"),
    "probability": run(classifier, REVIEWS, "probability"),
    "empty_translation": run(translator, [], "translation"),
    "empty_probability": run(classifier, [], "probability"),
    "int_input": error(translator, tf.constant([1, 2])),
    "rank_2_input": error(translator, tf.constant([["Red."], ["Blue."]])),
    "classifier_rank_2_input": error(classifier, tf.constant([["great"]])),
    "keras_importable": any(sys.modules.get(m) is not None for m in ("keras", "keras_transformer")),
}
print(json.dumps(result))
"""


def bytes_literal(texts):
    """``["Rèd"]`` -> ``"[b'R\\xc3\\xa8d']"``: a literal saved_model_cli feeds as UTF-8 strings."""
    return "[" + ", ".join(repr(text.encode("utf-8")) for text in texts) + "]"


def _saved_model_cli():
    script = Path(sys.executable).with_name("saved_model_cli")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def _start_saved_model_cli(folder, texts, outdir):
    return start(_saved_model_cli() + [
        "run", "--dir", str(folder), "--tag_set", "serve",
        "--signature_def", "serving_default",
        # UTF-8 bytes literals (ASCII escapes): saved_model_cli cannot feed a
        # numpy unicode array holding non-ASCII text ("Unable to convert element to UTF-8").
        "--input_exprs", f"text={bytes_literal(texts)}",
        "--outdir", str(outdir),
    ])


@pytest.fixture(scope="module")
def served(chain, tmp_path_factory):
    """The exports run three ways at once: without keras, and by saved_model_cli (twice)."""
    code = f"SENTENCES = {SENTENCES!r}\nREVIEWS = {REVIEWS!r}\n" + SERVE_WITHOUT_KERAS
    code = code.replace(
        "sys.argv[1], sys.argv[2]",
        f"{str(chain['translator'][1])!r}, {str(chain['classifier'][1])!r}",
    )
    without_keras = start(code)
    cli = {}
    for kind, texts in (("translator", SENTENCES), ("classifier", REVIEWS)):
        outdir = tmp_path_factory.mktemp(f"saved_model_cli_{kind}")
        cli[kind] = (_start_saved_model_cli(chain[kind][1], texts, outdir), outdir)
    result = finish_json(without_keras)
    result["saved_model_cli"] = {kind: (finish(run), outdir) for kind, (run, outdir) in cli.items()}
    return result


def test_exported_translator_equals_cached_greedy_decoding_without_keras(served, expected, translator):
    assert not served["keras_importable"]
    assert served["translation"] == expected["translation"]
    # The tiny model has learned to stop: [end] is cut, not printed.
    assert all("[end]" not in t and "[start]" not in t for t in served["translation"])
    assert any(0 < len(t.split()) < translator.max_length for t in served["translation"])
    # Empty, whitespace-only and punctuation-only input translate to "".
    assert served["translation"][2:5] == ["", "", ""]


def test_exported_classifier_matches_the_keras_model_without_keras(served, expected):
    np.testing.assert_allclose(served["probability"], expected["probability"], rtol=0, atol=1e-5)
    assert all(0.0 <= p <= 1.0 for p in served["probability"])


@pytest.fixture(scope="module")
def functions(translator, classifier):
    """The exported graphs, in this process: text -> translation, text -> probability."""
    return translator_export.translation_function(translator), classifier_export.classification_function(classifier[0])


def test_empty_batch_gives_an_empty_result(served, functions, translator):
    assert served["empty_translation"] == [] and served["empty_probability"] == []
    empty = tf.constant([], dtype=tf.string)
    translate, classify = functions
    assert translate(empty)["translation"].shape == (0,)
    assert classify(empty)["probability"].shape == (0,)
    assert translator.translate([]) == []


def test_long_input_is_truncated_to_the_sequence_length_with_one_warning(functions, translator, caplog):
    translate, classify = functions
    long_sentence = SENTENCES[5]
    head = " ".join(long_sentence.split()[:LENGTH])
    served = translate(tf.constant([long_sentence, head]))
    assert served["translation"].numpy()[0] == served["translation"].numpy()[1]
    assert served["truncated"].numpy().tolist() == [True, False]  # flagged, as the Python API warns
    probabilities = classify(tf.constant([REVIEWS[4], "great " * REVIEW_LENGTH]))["probability"].numpy()
    assert probabilities[0] == pytest.approx(probabilities[1], abs=1e-6)
    # The Python API warns once per over-long sentence (the CLI does too; the graph flags it).
    with caplog.at_level("WARNING"):
        translator.translate([long_sentence, "Red."])
    assert len([r for r in caplog.records if "longer than" in r.getMessage()]) == 1


def test_wrong_dtype_or_rank_fed_to_the_signature_is_a_clear_error(served):
    assert "expected to be a string tensor but is a int32 tensor" in served["int_input"]
    for key in ("rank_2_input", "classifier_rank_2_input"):
        assert "text_must_be_a_1D_batch_of_strings" in served[key], served[key]
        assert "is not compatible with expected shape [?]" in served[key]


@pytest.mark.parametrize("kind", ["translator", "classifier"])
def test_saved_model_cli_runs_the_export_with_the_same_outputs(kind, served, expected):
    (returncode, _, stderr), outdir = served["saved_model_cli"][kind]
    assert returncode == 0, stderr[-3000:]
    key = "translation" if kind == "translator" else "probability"
    values = np.load(outdir / f"{key}.npy", allow_pickle=True)
    if key == "translation":
        assert [v.decode("utf-8") for v in values] == expected["translation"]
    else:
        np.testing.assert_allclose(values, expected["probability"], rtol=0, atol=1e-5)


# ---- the Python API ---------------------------------------------------------


def test_the_exported_graph_stops_at_end_or_padding_as_the_python_path_does():
    layer = keras.layers.TextVectorization(output_sequence_length=4, vocabulary=["[start]", "[end]", "hola", "mundo"])
    words = WordVectorizer(layer)
    ids = tf.constant([[4, 5, 3, 4], [4, 0, 5, 5], [4, 1, 9, 5], [3, 4, 4, 4]])
    kept = tf.ragged.boolean_mask(ids, kept_tokens(ids, end_id=3))
    joined = words.detokenize_tensor(kept).numpy().tolist()
    assert joined == [b"hola mundo", b"hola", b"hola [UNK] [UNK] mundo", b""]  # 9: past the vocabulary
    assert [t.encode() for t in words.detokenize(kept.to_list())] == joined


def test_a_bare_bag_of_words_classifier_exports_with_its_vectorizer(tmp_path):
    raw, model, vectorizer = tiny_classifier("bigram-tfidf", epochs=1)
    with pytest.raises(ValueError, match="token ids.*vectorizer"):
        classifier_export.classification_function(model)
    path = classifier_export.export_classifier(model, tmp_path / "bare", vectorizer=vectorizer)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    np.testing.assert_allclose(  # the TF-IDF weights travel too
        serve(text=tf.constant(REVIEWS))["probability"].numpy(),
        np.asarray(raw(tf.constant(REVIEWS))).reshape(-1),
        rtol=0, atol=1e-5,
    )


def test_gru_translators_export_with_their_cached_loops_too(translator, tmp_path):
    from keras_transformer.translation.models import build_translation_model
    from keras_transformer.translation.translator import Translator

    for name in ("gru", "gru-attention"):  # untrained: equivalence needs no learning
        model = build_translation_model(
            name, 40, 40, LENGTH, compile=False, embed_dim=8, latent_dim=16, dropout=0.0
        )
        gru = Translator(model, translator.source_vectorizer, translator.target_vectorizer, name)
        path = translator_export.export_translator(gru, tmp_path / name)
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        served = [t.decode("utf-8") for t in serve(text=tf.constant(SENTENCES))["translation"].numpy()]
        assert served == reference_translations(gru, SENTENCES), name


def test_export_to_a_file_path_is_a_one_line_error(translator, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(FileExistsError, match="is a file; pass a folder"):
        translator_export.export_translator(translator, target)


def test_count_tokens_sees_the_truncated_inputs(translator, classifier):
    counts = translator.source_vectorizer.count_tokens(SENTENCES)
    assert [i for i, n in enumerate(counts) if n > LENGTH] == [5]
    assert counts[2:5] == [0, 0, 0]
    vectorizer = classifier[2]
    assert serving.sequence_length(vectorizer) == REVIEW_LENGTH
    assert serving.count_words(vectorizer, REVIEWS)[4] == 30
    assert serving.count_words(vectorizer, []) == []

