"""Shared fixtures: float32 products in full precision, an isolated Keras cache and tiny generated archives."""

import io
import tarfile
import zipfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def full_precision_float32_products():
    """Float32 matrix products in full precision for the whole session.

    The tests compare float32 results with tight tolerances. Set globally, before any
    module fixture runs and in every thread; the environment variables carry it into
    the processes the tests start. Nothing changes on a CPU.
    """
    import keras

    # NVIDIA GPUs compute float32 products in TF32 (a 10-bit mantissa) unless told otherwise.
    restore = _pin_float32_products(keras.backend.backend())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NVIDIA_TF32_OVERRIDE", "0")
        patch.setenv("JAX_DEFAULT_MATMUL_PRECISION", "highest")
        try:
            yield
        finally:
            restore()


def _pin_float32_products(backend):
    """Turn TF32 off for `backend` (imported only if it is the active one); returns the undo."""
    if backend == "jax":
        import jax

        previous = jax.config.jax_default_matmul_precision
        jax.config.update("jax_default_matmul_precision", "highest")
        return lambda: jax.config.update("jax_default_matmul_precision", previous)
    if backend == "torch":
        import torch

        previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

        def restore():
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous

        return restore
    if backend == "tensorflow":
        import tensorflow as tf

        previous = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        return lambda: tf.config.experimental.enable_tensor_float_32_execution(previous)
    return lambda: None


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Point KERAS_HOME (downloads, extractions) at a temp folder; unset the data-dir env."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("KERAS_TRANSFORMER_DATA_DIR", raising=False)
    return home


@pytest.fixture
def make_archive(tmp_path):
    """``make_archive("x.tar.gz" | "x.zip", {member: str | bytes}) -> Path`` in tmp_path/archives."""

    def make(name, members):
        path = tmp_path / "archives" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        items = {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in members.items()}
        if name.endswith(".zip"):
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for member, data in items.items():
                    zf.writestr(member, data)
        else:
            with tarfile.open(path, "w:gz") as tar:
                for member, data in items.items():
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return path

    return make
