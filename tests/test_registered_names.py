"""A `.keras` file names its custom objects; `import keras_transformer` alone must register every one.

The list is pinned: a renamed or unregistered class would make files saved before the change
fail to load with `safe_mode=True`. Add to it, never take away.
"""

import subprocess
import sys

REGISTERED = [
    "keras_transformer>LazyAdam", "keras_transformer>LazyRMSprop", "keras_transformer>LuongAttention",
    "keras_transformer>MaskedAttentionPooling1D", "keras_transformer>MaskedGlobalMaxPooling1D",
    "keras_transformer>MultiHeadAttention", "keras_transformer>OneHot", "keras_transformer>PositionalEmbedding",
    "keras_transformer>SinusoidalPositionalEncoding", "keras_transformer>SparseCategoricalCrossentropyWithSmoothing",
    "keras_transformer>TokenDropout", "keras_transformer>TransformerDecoder", "keras_transformer>TransformerEncoder",
    "keras_transformer>custom_standardization", "keras_transformer>standardize_text",
]


def test_importing_the_package_alone_registers_every_saved_name():
    code = ("import keras, keras_transformer\n"
            "print('\\n'.join(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('keras_transformer>'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(REGISTERED) <= set(result.stdout.split())


def test_the_public_names_stay_importable():
    import keras_transformer
    import keras_transformer.layers

    for name in keras_transformer.layers.__all__:
        assert getattr(keras_transformer, name) is getattr(keras_transformer.layers, name)
