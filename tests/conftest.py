"""Shared fixtures: an isolated Keras cache and tiny generated archives."""

import io
import tarfile
import zipfile

import pytest


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
