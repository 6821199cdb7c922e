"""One battery of checks that every layer's tests run (config, save, fit, precision)."""

import numpy as np
import keras
from keras import ops


def assert_close(a, b, atol=1e-5, rtol=1e-6):
    # rtol: float32 results of size ~30 differ by ~1e-5 between backends (summation order).
    np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=atol, rtol=rtol)


def run_layer_battery(make_layer, inputs, tmp_path, call=None):
    """Checks a user relies on for any layer of the package.

    Args:
        make_layer: `lambda **kw: Layer(..., **kw)`; kw may carry `dtype`.
        inputs: list of numpy inputs for a functional model.
        call: how to apply the layer to the model's input tensors (defaults
            to `layer(*tensors)`).
    """
    call = call or (lambda layer, tensors: layer(*tensors))

    def build_model(layer):
        tensors = [keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in inputs]
        outputs = call(layer, tensors)
        return keras.Model(tensors, outputs)

    layer = make_layer()
    model = build_model(layer)
    expected = model.predict(inputs, verbose=0)

    # 1. Config round trip: a layer rebuilt from its config has the same
    #    config, and with the same weights the same outputs.
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone_model = build_model(clone)
    clone_model.set_weights(model.get_weights())
    assert_close(clone_model.predict(inputs, verbose=0), expected)

    # 2. .keras round trip with safe_mode (no Lambda, no pickled code).
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert_close(reloaded.predict(inputs, verbose=0), expected)

    # 3. One compiled training step moves the weights and keeps the loss finite.
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    before = [w.copy() for w in model.get_weights()]
    target = np.zeros_like(expected)
    history = model.fit(inputs, target, epochs=1, batch_size=len(inputs[0]), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(np.any(b != a) for b, a in zip(before, model.get_weights()))

    # 4. Mixed precision: finite outputs in the half-precision compute dtype.
    for policy in ("mixed_float16", "mixed_bfloat16"):
        half = make_layer(dtype=policy)
        outputs = build_model(half)(inputs)
        outputs = ops.convert_to_numpy(ops.cast(outputs, "float32"))
        assert np.all(np.isfinite(outputs)), policy
        assert half.compute_dtype == policy.split("_")[1]
