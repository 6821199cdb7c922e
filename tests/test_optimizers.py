"""Lazy Adam and RMSprop: the rows a sparse gradient touches move as Keras' optimizers move them; others stay."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from keras_transformer.classification import build_classifier
from keras_transformer.training.optimizers import LazyAdam, LazyRMSprop, make_optimizer

PAIRS = [(LazyAdam, keras.optimizers.Adam), (LazyRMSprop, keras.optimizers.RMSprop)]
START = np.arange(18, dtype="float32").reshape(6, 3) / 10


def step(optimizer, variable, gradients):
    optimizer.build([variable])
    for gradient in gradients:
        optimizer.apply([gradient], [variable])
    return variable.numpy()


def sparse(indices, seed):
    values = np.random.default_rng(seed).normal(size=(len(indices), 3)).astype("float32")
    return tf.IndexedSlices(tf.constant(values), tf.constant(indices, tf.int64), tf.constant([6, 3], tf.int64))


@pytest.mark.parametrize("lazy, dense", PAIRS)
def test_a_gradient_touching_every_row_moves_the_table_as_the_dense_optimizer(lazy, dense):
    # Repeated rows (a word twice in a batch) are summed, as the dense gradient sums them.
    gradients = [sparse([0, 1, 2, 3, 4, 5, 2, 2], seed) for seed in range(3)]
    got = step(lazy(0.1), keras.Variable(START), gradients)
    expected = step(dense(0.1), keras.Variable(START), [tf.convert_to_tensor(g) for g in gradients])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lazy, dense", PAIRS)
def test_rows_a_batch_does_not_touch_keep_their_values_and_slots(lazy, dense):
    optimizer = lazy(0.1)
    variable = keras.Variable(START)
    first = step(optimizer, variable, [sparse([1, 3], 0)])
    expected = step(dense(0.1), keras.Variable(START), [tf.convert_to_tensor(sparse([1, 3], 0))])
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)  # from empty slots, the same step
    np.testing.assert_array_equal(first[[0, 2, 4, 5]], START[[0, 2, 4, 5]])
    slots = [v.numpy().copy() for v in optimizer.variables if v.shape == (6, 3)]
    second = step(optimizer, variable, [sparse([0, 5], 1)])
    np.testing.assert_array_equal(second[[1, 2, 3, 4]], first[[1, 2, 3, 4]])  # dense Adam would move 1 and 3 on
    for before, after in zip(slots, [v.numpy() for v in optimizer.variables if v.shape == (6, 3)]):
        np.testing.assert_array_equal(after[[1, 2, 3, 4]], before[[1, 2, 3, 4]])
    assert not np.allclose(second[[0, 5]], START[[0, 5]])


@pytest.mark.parametrize("lazy, dense", PAIRS)
def test_a_dense_gradient_takes_keras_own_update(lazy, dense):
    gradient = tf.constant(np.random.default_rng(2).normal(size=(6, 3)).astype("float32"))
    np.testing.assert_array_equal(step(lazy(0.1), keras.Variable(START), [gradient] * 2),
                                  step(dense(0.1), keras.Variable(START), [gradient] * 2))


def test_make_optimizer_builds_the_lazy_class_with_its_schedule_and_refuses_others():
    optimizer = make_optimizer("adam", 2e-3, decay_steps=10, warmup_steps=2, lazy=True)
    assert isinstance(optimizer, LazyAdam)
    assert float(optimizer._learning_rate(2)) == pytest.approx(2e-3)
    assert isinstance(make_optimizer("rmsprop", lazy=True), LazyRMSprop)
    with pytest.raises(ValueError, match="lazy updates exist for"):
        make_optimizer("adamw", lazy=True)


def test_a_classifier_learns_with_lazy_updates_and_reloads_with_its_optimizer(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 40, size=(256, 10))
    labels = (ids < 20).sum(axis=1, keepdims=True) > 5  # more small ids: positive
    model = build_classifier("transformer-positional", vocab_size=40, sequence_length=10, embed_dim=16,
                             num_heads=2, dense_dim=16, dropout=0.0, optimizer="rmsprop", learning_rate=3e-3,
                             lazy_embedding_updates=True)
    assert isinstance(model.optimizer, LazyRMSprop)
    history = model.fit(ids, labels.astype("float32"), epochs=8, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.85, history.history["accuracy"]
    model.save(tmp_path / "lazy.keras")
    reloaded = keras.models.load_model(tmp_path / "lazy.keras")
    assert isinstance(reloaded.optimizer, LazyRMSprop)
    np.testing.assert_allclose(reloaded.predict(ids[:8], verbose=0), model.predict(ids[:8], verbose=0), atol=1e-6)
