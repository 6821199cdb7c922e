"""Fetch, verify and extract the chapter's data archives.

Three steps, each usable on its own:

* :func:`fetch` returns the path of a checksum-verified archive: a local file you
  already have, or a download into the Keras cache (``$KERAS_HOME/datasets``,
  default ``~/.keras/datasets``).
* :func:`extract` unpacks a ``.tar.gz`` or ``.zip`` into a cache folder, once.
* :func:`resolve` turns a user-facing "data location" (local archive, extracted
  folder, or ``None``) into the dataset's extracted root folder.

Example::

    root = resolve(IMDB_SPEC, data_dir="../shared/datasets/aclImdb_labeled.tar.gz")
    # root == Path("~/.keras/datasets/aclImdb_labeled-e3fb5ff8b24a/aclImdb")
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from keras_transformer.data.archives import MARKER, cache_root, check_archive, extract, sha256sum  # noqa: F401

DATA_DIR_ENV = "KERAS_TRANSFORMER_DATA_DIR"
_CHUNK = 1 << 20

Checksums = str | Mapping[str, str] | Iterable[str] | None


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Where a corpus comes from and how to recognise it once extracted.

    Attributes:
        name: short name used in messages, e.g. ``"IMDB"``.
        url: public download URL.
        fname: file name of the download in the cache.
        sha256: accepted checksums, ``{hexdigest: description}``.
        archive_names: archive file names looked for in a data folder.
        root: top-level folder inside the archive, e.g. ``"aclImdb"``.
        required: paths relative to ``root`` that a complete copy has.
    """

    name: str
    url: str
    fname: str
    sha256: Mapping[str, str]
    archive_names: tuple[str, ...]
    root: str
    required: tuple[str, ...]


# --------------------------------------------------------------------------- #
# Checksums and cache location
# --------------------------------------------------------------------------- #


def _accepted(sha256: Checksums) -> dict[str, str]:
    """Normalise the accepted checksums to ``{lowercase hex: description}``."""
    if sha256 is None:
        return {}
    if isinstance(sha256, str):
        return {sha256.lower(): "expected"}
    if isinstance(sha256, Mapping):
        return {k.lower(): v for k, v in sha256.items()}
    return {k.lower(): "expected" for k in sha256}


# --------------------------------------------------------------------------- #
# Archive checks
# --------------------------------------------------------------------------- #



def fetch(
    url: str,
    sha256: Checksums,
    fname: str,
    local: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    verbose: bool = True,
) -> Path:
    """Return the path of a verified archive, downloading it if needed.

    Args:
        url: where to download from (``http(s)://`` or ``file://``).
        sha256: accepted checksum(s): one hex string, an iterable of them, or a
            ``{hexdigest: description}`` dict; ``None`` skips the check.
        fname: file name of the download inside ``cache_dir``.
        local: an archive already on disk; it is used instead of downloading.
            A checksum not in ``sha256`` only warns (the file may be a repack),
            but then the whole archive is read and a damaged one is a
            ``ValueError``.
        cache_dir: download folder; default ``$KERAS_HOME/datasets``.
        verbose: show a progress bar while downloading.

    Returns:
        Path of the archive (``local`` itself, or the cached download).

    Raises:
        FileNotFoundError: ``local`` does not exist.
        ValueError: a download's checksum does not match (the download is
            deleted), or ``local`` is not a readable archive.

    Example::

        spec = SPA_ENG_SPEC  # from keras_transformer.data
        path = fetch(spec.url, spec.sha256, spec.fname)  # ~/.keras/datasets/spa-eng.zip
    """
    accepted = _accepted(sha256)
    if local is not None:
        return _verify_local(Path(local).expanduser(), accepted)

    target = cache_root(cache_dir) / fname
    if target.exists():
        if not accepted or sha256sum(target) in accepted:
            return target
        # A stale or damaged earlier download: fetch it again, as get_file does.
        warnings.warn(
            f"{target} does not match the expected sha256; downloading it again.",
            stacklevel=2,
        )
    _download(url, target, accepted, verbose)
    return target


def _verify_local(path: Path, accepted: dict[str, str]) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"Archive {path} does not exist; pass --data-dir to an existing "
            "archive or extracted folder."
        )
    if accepted:
        digest = sha256sum(path)
        if digest in accepted:
            return path
        warnings.warn(
            f"{path} has sha256 {digest}, which is not a known checksum "
            f"({', '.join(accepted)}); using it anyway.",
            stacklevel=3,
        )
    # Unknown content: make sure it is at least a complete archive.
    check_archive(path)
    return path


class DownloadError(ConnectionError):
    """A download that could not start: one line naming the URL and ``--data-dir``."""


def _download(url: str, target: Path, accepted: dict[str, str], verbose: bool) -> None:
    """Stream ``url`` to a temp file beside ``target``, verify, then rename.

    The temp file lives in the same folder so that ``os.replace`` is an atomic
    rename: ``target`` is either absent or complete, never half written.
    """
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        try:
            response = urllib.request.urlopen(url, timeout=60)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise DownloadError(f"cannot download {url} ({reason}); pass --data-dir (or set {DATA_DIR_ENV}) "
                                f"to a local copy of {target.name} or its extracted folder") from None
        with os.fdopen(fd, "wb") as out, response:
            total = response.headers.get("Content-Length")
            bar = _progbar(int(total) if total else None) if verbose else None
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(done)
            if bar is not None:
                bar.update(done, finalize=True)
        got = digest.hexdigest()
        if accepted and got not in accepted:
            raise ValueError(
                f"Download of {url} has sha256 {got}, expected one of "
                f"{', '.join(accepted)}; the file was deleted. Rerun to retry, or "
                "pass --data-dir to a good local copy."
            )
        os.replace(tmp, target)
    finally:
        # On any failure (mismatch, network error, Ctrl-C) leave nothing behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _progbar(total: int | None):
    from keras.utils import Progbar  # Imported lazily: keras is slow to import.

    return Progbar(total, unit_name="B")


# --------------------------------------------------------------------------- #
# extract
# --------------------------------------------------------------------------- #


def _find_root(folder: Path, spec: DatasetSpec) -> Path | None:
    """``folder`` itself or ``folder/spec.root`` if it holds a complete copy."""
    for candidate in (folder / spec.root, folder):
        if all((candidate / r).exists() for r in spec.required):
            return candidate
    return None


def _from_archive(archive: Path, spec: DatasetSpec, cache: str | os.PathLike | None) -> Path:
    path = fetch(spec.url, spec.sha256, spec.fname, local=archive, cache_dir=cache)
    folder = extract(path, cache)
    root = _find_root(folder, spec)
    if root is None:
        raise ValueError(
            f"{archive} does not contain {spec.root}/{spec.required[0]}; pass "
            f"--data-dir to a {spec.name} archive ({', '.join(spec.archive_names)})."
        )
    return root


def resolve(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Turn a data location into the dataset's extracted root folder.

    ``data_dir`` may be:

    * an archive file: verified, extracted into the cache, root returned;
    * a folder holding the extracted root (``aclImdb/``) or being it;
    * a folder holding one of ``spec.archive_names``;
    * ``None``: the folder in ``$KERAS_TRANSFORMER_DATA_DIR`` is tried as above
      (if set and it holds the data), otherwise the archive is downloaded.

    Returns:
        Path of the root folder, e.g. ``.../aclImdb``.

    Example::

        resolve(IMDB_SPEC, "../shared/datasets")  # -> .../aclImdb
    """
    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV)
        if env:
            found = _from_folder(Path(env).expanduser(), spec, cache_dir)
            if found is not None:
                return found
            warnings.warn(
                f"${DATA_DIR_ENV}={env} holds no {spec.name} data "
                f"({', '.join(spec.archive_names)}); downloading {spec.url}.",
                stacklevel=2,
            )
        archive = fetch(spec.url, spec.sha256, spec.fname, cache_dir=cache_dir)
        return _from_archive(archive, spec, cache_dir)

    path = Path(data_dir).expanduser()
    if path.is_file():
        return _from_archive(path, spec, cache_dir)
    if path.is_dir():
        found = _from_folder(path, spec, cache_dir)
        if found is not None:
            return found
        raise FileNotFoundError(
            f"{path} holds neither {spec.root}/ nor any of "
            f"{', '.join(spec.archive_names)}; pass --data-dir to a {spec.name} "
            "archive or extracted folder."
        )
    raise FileNotFoundError(
        f"Data location {path} does not exist; pass --data-dir to a {spec.name} "
        "archive or extracted folder, or leave it unset to download."
    )


def _from_folder(folder: Path, spec: DatasetSpec, cache: str | os.PathLike | None) -> Path | None:
    root = _find_root(folder, spec)
    if root is not None:
        return root
    for name in spec.archive_names:
        if (folder / name).is_file():
            return _from_archive(folder / name, spec, cache)
    return None
