"""IMDB loader on a tiny generated aclImdb archive (plus one cheap check of the real archive)."""

import tarfile
import warnings
from pathlib import Path

import pytest
import tensorflow as tf

from keras_transformer.classification import data as imdb
from keras_transformer.data import download
from keras_transformer.classification.data import IMDB_SPEC, load_imdb, load_imdb_texts

# Offline copies of the real corpora (read-only); the tests using them skip if absent.
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

N_TRAIN, N_TEST, N_UNSUP = 10, 5, 4  # Per class.


def _tiny_members():
    members = {"aclImdb/README": "readme", "aclImdb/imdb.vocab": "the\nand\n"}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        for cls in ("neg", "pos"):
            for i in range(n):
                # The text names its own origin so tests can check labels.
                members[f"aclImdb/{split}/{cls}/{i}_{i % 10 + 1}.txt"] = f"{split} {cls} review {i} é"
        members[f"aclImdb/{split}/labeledBow.feat"] = "0 0:1\n"
    for i in range(N_UNSUP):
        members[f"aclImdb/train/unsup/{i}_0.txt"] = f"train unsup review {i}"
    return members


@pytest.fixture
def tiny_imdb(make_archive, keras_home):
    return make_archive("aclImdb_v1.tar.gz", _tiny_members())


def _load(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # The tiny archive's checksum is not a known one.
        return load_imdb_texts(path, **kwargs)


def test_counts_labels_and_unsup_dropped(tiny_imdb):
    train, val, test = _load(tiny_imdb)
    num_val = int(0.2 * N_TRAIN)
    assert (len(train.texts), len(val.texts), len(test.texts)) == (
        2 * (N_TRAIN - num_val),
        2 * num_val,
        2 * N_TEST,
    )
    for split, name in ((train, "train"), (val, "train"), (test, "test")):
        assert len(split.texts) == len(split.labels)
        for text, label in zip(split.texts, split.labels):
            assert text.startswith(name)
            assert "unsup" not in text
            assert label == (1 if " pos " in text else 0)  # pos=1, neg=0
            assert text.endswith("é")  # Read as UTF-8.
        # Validation is stratified, like the book's per-class move.
        assert split.labels.count(1) == split.labels.count(0)


def test_split_is_pure_function_of_seed(tiny_imdb):
    a = _load(tiny_imdb, seed=1337)
    b = _load(tiny_imdb, seed=1337)
    assert a == b
    c = _load(tiny_imdb, seed=7)
    assert set(c[1].texts) != set(a[1].texts)


def test_train_and_val_partition_the_training_files(tiny_imdb):
    train, val, _ = _load(tiny_imdb)
    assert not set(train.texts) & set(val.texts)
    assert len(set(train.texts) | set(val.texts)) == 2 * N_TRAIN


def test_classes_are_mixed_in_each_split(tiny_imdb):
    train, _, test = _load(tiny_imdb)
    # Not all negatives first: a sorted order would give one-class batches.
    assert train.labels != sorted(train.labels) and test.labels != sorted(test.labels)


def test_extracted_folder_gives_same_split_as_archive(tiny_imdb, tmp_path):
    with tarfile.open(tiny_imdb) as tar:
        tar.extractall(tmp_path / "plain", filter="data")
    from_archive = _load(tiny_imdb)
    assert load_imdb_texts(tmp_path / "plain") == from_archive
    assert load_imdb_texts(tmp_path / "plain" / "aclImdb") == from_archive


def test_validation_split_zero_and_bad_arguments(tiny_imdb):
    train, val, _ = _load(tiny_imdb, validation_split=0.0)
    assert len(val.texts) == 0 and len(train.texts) == 2 * N_TRAIN
    with pytest.raises(ValueError, match="validation_split=1.0"):
        load_imdb_texts(tiny_imdb, validation_split=1.0)
    with pytest.raises(ValueError, match="source='web'"):
        load_imdb_texts(tiny_imdb, source="web")
    with pytest.raises(ValueError, match="batch_size=0"):
        load_imdb(tiny_imdb, batch_size=0)


def test_load_imdb_datasets(tiny_imdb):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_ds, val_ds, test_ds = load_imdb(tiny_imdb, batch_size=4)
    spec = train_ds.element_spec
    assert spec[0].dtype == tf.string and spec[1].dtype == tf.int32
    assert spec[0].shape.as_list() == [None] and spec[1].shape.as_list() == [None]
    texts, labels = next(iter(train_ds))
    assert texts.shape == (4,) and labels.shape == (4,)
    assert set(labels.numpy().tolist()) <= {0, 1}
    sizes = [sum(int(t.shape[0]) for t, _ in ds) for ds in (train_ds, val_ds, test_ds)]
    assert sizes == [16, 4, 10]
    # Training order changes between epochs, content does not.
    epoch1 = [t for b, _ in train_ds for t in b.numpy().tolist()]
    epoch2 = [t for b, _ in train_ds for t in b.numpy().tolist()]
    assert sorted(epoch1) == sorted(epoch2)
    # Validation order is fixed.
    assert [t.numpy().tolist() for t, _ in val_ds] == [t.numpy().tolist() for t, _ in val_ds]


def test_tfds_source_with_mock_data(keras_home):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        train, val, test = load_imdb_texts(source="tfds", seed=3)
        again = load_imdb_texts(source="tfds", seed=3)
    assert (train, val, test) == again
    assert len(train.texts) + len(val.texts) == 20 and len(test.texts) == 20
    n_pos = train.labels.count(1) + val.labels.count(1)
    assert len(val.texts) == int(0.2 * n_pos) + int(0.2 * (20 - n_pos))
    assert not set(train.texts) & set(val.texts)
    assert all(isinstance(t, str) for t in train.texts) and set(train.labels) <= {0, 1}


@pytest.mark.skipif(
    not (SHARED_DATASETS / "aclImdb_labeled.tar.gz").exists(), reason="offline IMDB copy absent"
)
def test_real_archive_checksum_and_split_sizes(keras_home):
    """Cheap (~3 s): a full load extracts 50k files (~15 s), so stream the tar instead."""
    archive = SHARED_DATASETS / "aclImdb_labeled.tar.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # The offline copy's checksum is a known one.
        assert download.fetch(IMDB_SPEC.url, IMDB_SPEC.sha256, IMDB_SPEC.fname, local=archive) == archive
    files = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[3].endswith(".txt"):
                files.setdefault((parts[1], parts[2]), []).append(parts[3])
    assert "unsup" not in {cls for _, cls in files}
    assert {k: len(v) for k, v in files.items()} == {
        (s, c): 12500 for s in ("train", "test") for c in ("neg", "pos")
    }
    train_val = [imdb._split_class(files[("train", c)], 0.2, 1337) for c in ("neg", "pos")]
    assert sum(len(t) for t, _ in train_val) == 20000
    assert sum(len(v) for _, v in train_val) == 5000
