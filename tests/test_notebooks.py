"""Every notebook in notebooks/ runs top to bottom in its small mode, without outputs committed.

The small mode (``KERAS_TRANSFORMER_SMALL=1``) generates a tiny corpus with
``keras_transformer.data.samples`` and trains tiny models for 2 epochs. Each
notebook runs in a fresh kernel of this Python, in a temporary working folder,
with the Keras cache in a temporary folder too; a cell that raises fails the test.
"""

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
KERNEL = "keras-transformer-test"
TIMEOUT_S = 600  # per cell


def test_there_are_notebooks():
    names = {path.name for path in NOTEBOOKS}
    assert {"ch11_attention.ipynb", "ch11_text_classification.ipynb", "ch11_translation.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and "pip install" in first.source, "the first cell installs the package"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear the outputs"


def test_small_corpora_load_with_the_chapter_loaders(tmp_path, keras_home):
    """The notebooks' small mode reads the generated corpora through the real loaders."""
    import warnings

    from keras_transformer.classification.data import load_imdb_texts
    from keras_transformer.data.samples import write_imdb_folder, write_spa_eng_zip
    from keras_transformer.translation.pairs import load_pairs

    root = write_imdb_folder(tmp_path / "imdb", train_per_class=10, test_per_class=5, seed=1)
    train, val, test = load_imdb_texts(root, seed=1)
    assert (len(train.texts), len(val.texts), len(test.texts)) == (16, 4, 10)
    assert sorted(test.labels) == [0] * 5 + [1] * 5
    archive = write_spa_eng_zip(tmp_path / "spa", num_pairs=50, seed=1)
    assert archive.read_bytes() == write_spa_eng_zip(tmp_path / "again", num_pairs=50, seed=1).read_bytes()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not a known checksum")
        pairs, skipped = load_pairs(archive)
    assert len(pairs) == 50 and skipped == 0
    assert all(english.startswith("The ") and spanish.startswith("El ") for english, spanish in pairs)


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernelspec for this interpreter, the small mode and an isolated Keras cache."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("KERAS_TRANSFORMER_SMALL", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("KERAS_TRANSFORMER_DATA_DIR", raising=False)
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_in_small_mode(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=TIMEOUT_S, resources={"metadata": {"path": str(kernel_env)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell failed\n{error}", pytrace=False)
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # model.summary() prints through rich, which a kernel shows as display_data.
    texts = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    images = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    assert "Total params" in texts, f"{path.name} shows no model.summary()"
