"""Check and unpack the chapter's archives (``.tar.gz`` and ``.zip``), safely and once.

Example::

    check_archive("../shared/datasets/spa-eng.zip")      # a one-line ValueError if damaged
    folder = extract("../shared/datasets/spa-eng.zip")   # unpacked into the Keras cache
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

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



def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Example: ``sha256sum("spa-eng.zip") -> "0c4fd782..."``.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


