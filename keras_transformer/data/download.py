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
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

DATA_DIR_ENV = "KERAS_TRANSFORMER_DATA_DIR"
MARKER = ".keras_transformer_extracted"
_CHUNK = 1 << 20

# Everything a damaged archive can raise while being read. gzip reports a bad
# CRC/trailer as BadGzipFile and a garbled deflate stream as zlib.error; tarfile
# only wraps some of these in ReadError.
_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
)

# tarfile extraction filters exist from 3.10.12 / 3.11.4 on.
_HAS_FILTER = hasattr(tarfile, "data_filter")

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


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Example: ``sha256sum("spa-eng.zip") -> "0c4fd782..."``.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _accepted(sha256: Checksums) -> dict[str, str]:
    """Normalise the accepted checksums to ``{lowercase hex: description}``."""
    if sha256 is None:
        return {}
    if isinstance(sha256, str):
        return {sha256.lower(): "expected"}
    if isinstance(sha256, Mapping):
        return {k.lower(): v for k, v in sha256.items()}
    return {k.lower(): "expected" for k in sha256}


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder downloads and extractions go to.

    ``cache_dir`` if given, else ``$KERAS_HOME/datasets`` (default
    ``~/.keras/datasets``), falling back to ``/tmp/.keras/datasets`` when the
    home folder is not writable, as ``keras.utils.get_file`` does.
    """
    if cache_dir is not None:
        path = Path(cache_dir).expanduser()
    else:
        home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
        path = Path(home).expanduser() / "datasets"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        if not os.access(path, os.W_OK):
            path = Path(tempfile.gettempdir()) / ".keras" / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- #
# Archive checks
# --------------------------------------------------------------------------- #


def _bad_archive(path: Path, why: object) -> ValueError:
    return ValueError(
        f"{path} is not a valid archive ({why}); delete it and rerun, or pass "
        "--data-dir to a good copy."
    )


def _is_tar(path: Path) -> bool:
    return path.name.endswith((".tar.gz", ".tgz", ".tar"))


def _is_gzip(path: Path) -> bool:
    return path.name.endswith((".gz", ".tgz"))


@contextlib.contextmanager
def _tar_stream(path: Path):
    """Open a tar(.gz) for one sequential pass, then read the gzip stream to its end.

    tarfile silently stops at the first garbled header after the first one, so
    a damaged archive could pass for a short one; draining the gzip stream
    makes gzip check its CRC and length, which catches flipped bytes and
    truncation.
    """
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if _is_gzip(path) else raw
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar
        while stream.read(_CHUNK):
            pass


def check_archive(path: str | os.PathLike) -> None:
    """Read a whole ``.tar.gz``/``.zip`` and raise ValueError if it is damaged.

    Used for local files whose checksum is unknown; a truncated or bit-flipped
    archive raises ``ValueError`` naming the file and the fix.

    Example: ``check_archive("aclImdb_v1.tar.gz")  # None, or ValueError``.
    """
    path = Path(path)
    try:
        if _is_tar(path):
            with _tar_stream(path) as tar:
                for member in tar:
                    if member.isfile():
                        f = tar.extractfile(member)
                        while f.read(_CHUNK):
                            pass
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise _bad_archive(path, f"member {bad!r} fails its CRC")
        else:
            raise _unsupported(path)
    except _ARCHIVE_ERRORS as e:
        raise _bad_archive(path, e) from e


def _unsupported(path: Path) -> ValueError:
    return ValueError(
        f"{path} has an unsupported archive type; pass a .tar.gz or .zip file."
    )


def _safe_name(name: str, archive: Path) -> None:
    """Reject members that would land outside the extraction folder."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise ValueError(
            f"{archive} holds an unsafe member path {name!r}; refusing to "
            "extract it. Use a trusted copy of the archive."
        )


# --------------------------------------------------------------------------- #
# fetch
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


def _download(url: str, target: Path, accepted: dict[str, str], verbose: bool) -> None:
    """Stream ``url`` to a temp file beside ``target``, verify, then rename.

    The temp file lives in the same folder so that ``os.replace`` is an atomic
    rename: ``target`` is either absent or complete, never half written.
    """
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
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


def _archive_stem(archive: Path) -> str:
    name = archive.name
    for ext in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return archive.stem


def extract(
    archive: str | os.PathLike,
    dest_root: str | os.PathLike | None = None,
    sha256: str | None = None,
) -> Path:
    """Extract a ``.tar.gz``/``.zip`` once into ``dest_root`` and return the folder.

    The folder is ``dest_root/<archive stem>-<first 12 hex of its sha256>``, so
    two different archives with the same name never share an extraction.
    Extraction goes to a temp folder that is renamed into place after a marker
    file is written; a later call reuses a folder only if it has the marker.

    Args:
        archive: the archive file.
        dest_root: parent folder; default ``$KERAS_HOME/datasets``.
        sha256: the archive's checksum if already known (skips re-hashing).

    Returns:
        The extraction folder (containing e.g. ``aclImdb/``).

    Raises:
        ValueError: the archive is damaged (names the file and the fix) or has
            a member path escaping the folder.

    Example::

        folder = extract("spa-eng.zip", tmp_path)   # tmp_path/spa-eng-0c4fd7825d3d
        (folder / "spa-eng" / "spa.txt").exists()    # True
    """
    archive = Path(archive)
    dest_root = cache_root(dest_root)
    digest = sha256 or sha256sum(archive)
    final = dest_root / f"{_archive_stem(archive)}-{digest[:12]}"
    if (final / MARKER).exists():
        return final

    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=dest_root))
    try:
        _extract_into(archive, tmp)
        (tmp / MARKER).write_text(f"{archive}\n{digest}\n")
        if (final / MARKER).exists():
            return final  # Another process finished meanwhile; keep its copy.
        if final.exists():
            # A leftover without marker (e.g. a copy that was cut short).
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first; its copy is as good as ours.
            if not (final / MARKER).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _extract_into(archive: Path, dest: Path) -> None:
    try:
        if _is_tar(archive):

            def check(member: tarfile.TarInfo, path: str):
                _safe_name(member.name, archive)
                if member.issym() or member.islnk():
                    # Conservative: no link may point upwards or anywhere absolute.
                    _safe_name(member.linkname, archive)
                # The stdlib "data" filter also refuses devices and odd modes.
                return tarfile.data_filter(member, path) if _HAS_FILTER else member

            with _tar_stream(archive) as tar:
                if _HAS_FILTER:
                    tar.extractall(dest, filter=check)
                else:  # pragma: no cover - Python without tarfile filters
                    for member in tar:
                        tar.extract(check(member, str(dest)), dest)
        elif archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _safe_name(name, archive)
                zf.extractall(dest)  # Checks each member's CRC as it goes.
        else:
            raise _unsupported(archive)
    except _ARCHIVE_ERRORS as e:
        raise _bad_archive(archive, e) from e


# --------------------------------------------------------------------------- #
# resolve
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
