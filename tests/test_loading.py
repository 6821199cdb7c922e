"""Every chapter model loads in a fresh process after `import keras_transformer` alone, with safe_mode.

One saved file per model family (each IMDB classifier, the raw-string
classifier, each translation model, the translator's target vectorizer
with its registered standardization); a new Python process imports only
`keras` and `keras_transformer`, loads each with `safe_mode=True` and must
give the outputs the saving process got.
"""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.classification.data import make_vectorizer
from keras_transformer.translation.vocabulary import make_vectorizers
from keras_transformer.classification import build_classifier, end_to_end
from keras_transformer.translation import build_translation_model
from keras_transformer.classification.models import BAG_OF_WORDS, MODEL_NAMES
from tiny_models import REVIEWS, make_pairs

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="text vectorization needs TensorFlow")
SIZES = dict(vocab_size=40, sequence_length=12, embed_dim=8, num_heads=2, dense_dim=8, lstm_units=4, hidden_dim=4)


def _save(model, path, inputs, as_json):
    model.save(path)
    return {"path": str(path), "inputs": as_json, "outputs": np.asarray(model(inputs)).tolist()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    rng = np.random.default_rng(0)
    items = {}
    for name in MODEL_NAMES:
        shape = (3, SIZES["vocab_size"]) if name in BAG_OF_WORDS else (3, SIZES["sequence_length"])
        x = rng.integers(0, 2, shape).astype("float32") if name in BAG_OF_WORDS else rng.integers(0, 40, shape)
        items[name] = _save(build_classifier(name, **SIZES, token_dropout=0.1, pooling="attention"
                                             if name == "transformer" else "max"), root / f"{name}.keras", x, x.tolist())
    vectorizer = make_vectorizer("bigram-tfidf", vocab_size=40)
    vectorizer.adapt(REVIEWS)
    raw = end_to_end(vectorizer, build_classifier("bigram-tfidf", vocab_size=40, hidden_dim=4))
    items["end_to_end"] = _save(raw, root / "end_to_end.keras", tf.constant(REVIEWS), REVIEWS)
    pairs = make_pairs(40, seed=0)
    source_vec, target_vec = make_vectorizers(pairs, vocab_size=30, sequence_length=6)
    for name in ("gru", "gru-attention", "transformer"):
        sizes = dict(embed_dim=8, latent_dim=8) if name.startswith("gru") else dict(embed_dim=8, dense_dim=8, num_heads=2)
        model = build_translation_model(name, source_vocab=30, target_vocab=30, sequence_length=6, **sizes)
        x = {"english": rng.integers(0, 30, (2, 6)), "spanish": rng.integers(0, 30, (2, 6))}
        items[name] = _save(model, root / f"{name}.keras", x, {k: v.tolist() for k, v in x.items()})
    inputs = keras.Input(shape=(), dtype="string")
    spanish = keras.Model(inputs, target_vec(inputs))
    items["target_vectorizer"] = _save(spanish, root / "target_vectorizer.keras", tf.constant(["¿Rojo, Verde?"]),
                                       ["¿Rojo, Verde?"])
    return items


def test_every_chapter_model_loads_in_a_fresh_process_with_import_keras_transformer_only(saved, tmp_path):
    spec = tmp_path / "saved.json"
    spec.write_text(json.dumps(saved))
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np, keras, tensorflow as tf
        import keras_transformer
        out = {{}}
        for name, item in json.load(open({str(spec)!r})).items():
            model = keras.saving.load_model(item["path"], safe_mode=True)
            x = item["inputs"]
            if isinstance(x, dict):
                x = {{k: np.array(v) for k, v in x.items()}}
            else:
                x = tf.constant(x) if isinstance(x[0], str) else np.array(x)
            out[name] = np.asarray(model(x)).tolist()
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(loaded) == set(saved)
    for name, item in saved.items():
        np.testing.assert_allclose(np.array(loaded[name]), np.array(item["outputs"]), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
