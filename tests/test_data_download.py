"""fetch / extract / resolve on tiny generated archives (file:// URLs stand in for HTTP)."""

import hashlib
import io
import os
import random
import tarfile
import urllib.error
import urllib.request
import warnings
import zipfile

import pytest

from keras_transformer.data import archives, download
from keras_transformer.data.download import DatasetSpec, extract, fetch, resolve, sha256sum


def _text(seed, n=4000):
    rng = random.Random(seed)
    return " ".join(rng.choice(["alpha", "beta", "gamma", "delta", str(rng.random())]) for _ in range(n))


# Enough (not too compressible) data that the middle of the file is compressed payload.
TOY = {f"toy/file{i}.txt": _text(i) for i in range(3)} | {"toy/data.txt": "hello\n"}


def _spec(url="file:///nonexistent", sha=None):
    return DatasetSpec(
        name="toy",
        url=url,
        fname="toy.tar.gz",
        sha256=sha or {},
        archive_names=("toy.tar.gz", "toy.zip"),
        root="toy",
        required=("data.txt",),
    )


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith((".part", ".tmp"))]


@pytest.fixture(params=["toy.tar.gz", "toy.zip"])
def toy_archive(request, make_archive):
    return make_archive(request.param, TOY)


# ----------------------------------------------------------------------------- fetch: download


def test_download_verifies_and_lands_in_keras_cache(keras_home, make_archive):
    src = make_archive("toy.tar.gz", TOY)
    path = fetch(src.as_uri(), sha256sum(src), "toy.tar.gz", verbose=False)
    assert path == keras_home / "datasets" / "toy.tar.gz"
    assert path.read_bytes() == src.read_bytes()
    assert _leftovers(path.parent) == []


def test_download_is_reused_when_cached(keras_home, make_archive):
    src = make_archive("toy.tar.gz", TOY)
    first = fetch(src.as_uri(), sha256sum(src), "toy.tar.gz", verbose=False)
    os.unlink(src)  # A second download would now fail.
    assert fetch(src.as_uri(), sha256sum(first), "toy.tar.gz", verbose=False) == first


def test_download_checksum_mismatch_deletes_file_and_raises(keras_home, make_archive):
    src = make_archive("toy.tar.gz", TOY)
    with pytest.raises(ValueError, match="sha256"):
        fetch(src.as_uri(), "0" * 64, "toy.tar.gz", verbose=False)
    cache = keras_home / "datasets"
    assert not (cache / "toy.tar.gz").exists()
    assert _leftovers(cache) == []


def test_interrupted_download_leaves_no_file(keras_home, make_archive, monkeypatch):
    src = make_archive("toy.tar.gz", TOY)
    real_urlopen = urllib.request.urlopen

    class Dropping(io.RawIOBase):
        """Serves the first chunk, then the connection "drops"."""

        def __init__(self):
            self.inner = real_urlopen(src.as_uri())
            self.headers = self.inner.headers
            self.calls = 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection dropped")
            return self.inner.read(1000)

        def close(self):
            self.inner.close()
            super().close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Dropping())
    with pytest.raises(ConnectionResetError):
        fetch(src.as_uri(), sha256sum(src), "toy.tar.gz", verbose=False)
    cache = keras_home / "datasets"
    assert not (cache / "toy.tar.gz").exists()  # Never a half-written archive under the final name.
    assert _leftovers(cache) == []


def test_stale_cached_file_is_downloaded_again(keras_home, make_archive):
    src = make_archive("toy.tar.gz", TOY)
    cache = keras_home / "datasets"
    cache.mkdir(parents=True)
    (cache / "toy.tar.gz").write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="downloading it again"):
        path = fetch(src.as_uri(), sha256sum(src), "toy.tar.gz", verbose=False)
    assert sha256sum(path) == sha256sum(src)


def test_download_progress_bar_runs(keras_home, make_archive, capsys):
    src = make_archive("toy.tar.gz", TOY)
    fetch(src.as_uri(), sha256sum(src), "toy.tar.gz", verbose=True)
    assert capsys.readouterr().out  # keras Progbar wrote something.


# ----------------------------------------------------------------------------- fetch: local


def test_local_with_any_known_checksum_is_accepted_silently(keras_home, toy_archive):
    known = {"f" * 64: "published", sha256sum(toy_archive): "offline repack"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fetch("file:///unused", known, "toy", local=toy_archive) == toy_archive
    assert not (keras_home / "datasets" / "toy").exists()  # Nothing copied or downloaded.


def test_local_with_unknown_checksum_warns_but_works(keras_home, toy_archive):
    with pytest.warns(UserWarning, match="not a known checksum"):
        assert fetch("file:///unused", "f" * 64, "toy", local=toy_archive) == toy_archive


def test_local_missing_file(keras_home, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        fetch("file:///unused", None, "toy", local=tmp_path / "nope.zip")


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncated", "flipped"])
def test_damaged_local_archive_is_a_valueerror_naming_file_and_fix(keras_home, toy_archive, damage):
    damage(toy_archive)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # The unknown-checksum warning.
        with pytest.raises(ValueError) as info:
            fetch("file:///unused", "f" * 64, "toy", local=toy_archive)
    message = str(info.value)
    assert str(toy_archive) in message
    assert "delete it and rerun" in message and "--data-dir" in message


# ----------------------------------------------------------------------------- extract


def test_extract_unpacks_with_marker_and_reuses(keras_home, toy_archive, monkeypatch):
    folder = extract(toy_archive, keras_home / "x")
    assert folder.parent == keras_home / "x"
    assert (folder / "toy" / "data.txt").read_text() == "hello\n"
    assert (folder / download.MARKER).exists()
    assert _leftovers(folder.parent) == []

    def boom(*args):
        raise AssertionError("extracted twice")

    monkeypatch.setattr(archives, "_extract_into", boom)
    assert extract(toy_archive, keras_home / "x") == folder


def test_extract_replaces_incomplete_folder(keras_home, toy_archive):
    folder = extract(toy_archive, keras_home)
    (folder / download.MARKER).unlink()
    (folder / "toy" / "data.txt").unlink()  # As if a copy had been cut short.
    assert extract(toy_archive, keras_home) == folder
    assert (folder / "toy" / "data.txt").exists()


def test_different_archives_with_same_name_do_not_share_a_folder(keras_home, make_archive):
    a = extract(make_archive("toy.zip", {"toy/data.txt": "a"}), keras_home)
    b = extract(make_archive("toy.zip", {"toy/data.txt": "b"}), keras_home)
    assert a != b and (b / "toy" / "data.txt").read_text() == "b"


@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncated", "flipped"])
def test_extract_damaged_archive_raises_and_leaves_nothing(keras_home, toy_archive, damage):
    damage(toy_archive)
    with pytest.raises(ValueError, match="delete it and rerun") as info:
        extract(toy_archive, keras_home)
    assert str(toy_archive) in str(info.value)
    assert list(keras_home.iterdir()) == []  # No half-extracted folder, no temp folder.


@pytest.mark.parametrize("name", ["toy.tar.gz", "toy.zip"])
@pytest.mark.parametrize("evil", ["../evil.txt", "toy/../../evil.txt", "/tmp/evil.txt"])
def test_extract_refuses_path_traversal(keras_home, make_archive, name, evil):
    archive = make_archive(name, {"toy/data.txt": "ok", evil: "pwned"})
    with pytest.raises(ValueError, match="unsafe member"):
        extract(archive, keras_home / "x")
    assert not (keras_home / "evil.txt").exists()
    assert not (keras_home / "x").exists() or list((keras_home / "x").iterdir()) == []


def test_extract_refuses_symlink_out_of_folder(keras_home, tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("toy/escape")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../etc"
        tar.addfile(info)
    with pytest.raises(ValueError, match="unsafe member"):
        extract(archive, keras_home)


# ----------------------------------------------------------------------------- resolve


def test_resolve_archive_file(keras_home, toy_archive):
    root = resolve(_spec(), toy_archive)
    assert root.name == "toy" and (root / "data.txt").exists()
    assert keras_home in root.parents  # Extracted into the cache, not beside the archive.
    assert sorted(p.name for p in toy_archive.parent.iterdir()) == [toy_archive.name]


def test_resolve_extracted_folder_or_its_parent(keras_home, tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "data.txt").write_text("x")
    assert resolve(_spec(), tmp_path) == tmp_path / "toy"
    assert resolve(_spec(), tmp_path / "toy") == tmp_path / "toy"


def test_resolve_folder_holding_archive(keras_home, make_archive):
    archive = make_archive("toy.zip", TOY)
    assert (resolve(_spec(), archive.parent) / "data.txt").exists()


def test_resolve_none_uses_env_folder(keras_home, make_archive, monkeypatch):
    archive = make_archive("toy.zip", TOY)
    monkeypatch.setenv(download.DATA_DIR_ENV, str(archive.parent))
    assert (resolve(_spec(url="file:///nonexistent")) / "data.txt").exists()


def test_resolve_none_downloads(keras_home, make_archive, tmp_path, monkeypatch):
    src = make_archive("toy.tar.gz", TOY)
    spec = _spec(url=src.as_uri(), sha={sha256sum(src): "published"})
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(download.DATA_DIR_ENV, str(empty))
    with pytest.warns(UserWarning, match="holds no toy data"):
        root = resolve(spec)
    assert (keras_home / "datasets" / "toy.tar.gz").exists()
    assert (root / "data.txt").exists()


def test_resolve_bad_locations(keras_home, tmp_path, make_archive):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve(_spec(), tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds neither"):
        resolve(_spec(), tmp_path)
    other = make_archive("other.zip", {"other/x.txt": "x"})
    with pytest.raises(ValueError, match="does not contain toy/data.txt"):
        resolve(_spec(), other)


def test_sha256sum_matches_hashlib(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 << 20))
    assert sha256sum(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_zip_member_with_bad_crc_is_detected(keras_home, tmp_path):
    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("toy/data.txt", "hello world " * 100)
    data = archive.read_bytes().replace(b"hello world", b"HELLO world", 1)
    archive.write_bytes(data)
    with pytest.raises(ValueError, match="toy.zip"):
        extract(archive, keras_home)


def test_no_network_is_one_line_naming_the_url_and_data_dir(keras_home, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    url = "https://example.org/data/toy.tar.gz"
    with pytest.raises(download.DownloadError) as error:
        download.fetch(url, None, "toy.tar.gz")
    message = str(error.value)
    assert "\n" not in message and url in message and "--data-dir" in message
    assert not list((keras_home / "datasets").glob("toy.tar.gz*"))  # nothing half-written left behind
