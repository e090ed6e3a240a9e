"""All-or-nothing output: every file tessera writes goes through this module.

A file is written under a temporary name in its destination directory and renamed into place
when complete, so an interrupted, failed or killed command leaves either the old file or the
new one, never a partial one; the temporary file is removed on any exception (including
``KeyboardInterrupt`` and the ``SystemExit`` the CLI raises on SIGTERM).

* :func:`write_atomic` — one file from text or bytes;
* :func:`atomic_open` — one file written as a stream (CSV writers, line-by-line JSON);
* :func:`write_files_atomic` — several files of one directory, from memory;
* :func:`staged_directory` — several files of one directory, streamed by the caller into a
  staging directory that is moved into place (file by file) only when the block succeeds;
* :func:`staged_tree` — a whole directory tree (subdirectories too), swapped in as one.

Errors writing name the user's path (never the temporary one): ``OSError`` with
``filename`` set to the destination.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal, overload

__all__ = [
    "atomic_open",
    "check_output_directory",
    "check_output_file",
    "staged_directory",
    "staged_tree",
    "write_atomic",
    "write_files_atomic",
]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _as_user_error(err: OSError, path: Path) -> OSError:
    """The same error, naming the user's destination instead of a temporary name."""
    return type(err)(err.errno, err.strerror or str(err), str(path))


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` is a directory we may create entries in."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {parent} is not writable")


def check_output_file(path: Path, option: str) -> None:
    """Before any work: ``path`` can be written as a file (it is not a directory and its
    directory can be created or written). ValueError naming the option otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory (expected a file name)")
    _writable_parent(path, option)


def check_output_directory(path: Path, option: str) -> None:
    """Before any work: ``path`` can hold output files (a directory, or a name that can be
    created as one). ValueError naming the option otherwise."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{option} {path}: exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{option} {path}: is not writable")
    _writable_parent(path, option)


@overload
@contextmanager
def atomic_open(path: Path, mode: Literal["w"] = "w") -> Iterator[IO[str]]: ...


@overload
@contextmanager
def atomic_open(path: Path, mode: Literal["wb"]) -> Iterator[IO[bytes]]: ...


@contextmanager
def atomic_open(path: Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[str] | IO[bytes]]:
    """Open ``path`` for writing through a temporary file renamed into place on success.

    Parents are created. The file gets the permissions a plain ``open`` would give it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _as_user_error(err, path) from None
    tmp = Path(tmp_name)
    try:
        if mode == "wb":
            with os.fdopen(fd, "wb") as binary:
                yield binary
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as text:
                yield text
        tmp.chmod(0o666 & ~_umask())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _as_user_error(err, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` all-or-nothing."""
    if isinstance(data, bytes):
        with atomic_open(path, "wb") as binary:
            binary.write(data)
    else:
        with atomic_open(path, "w") as text:
            text.write(data)


def _new_staging(directory: Path) -> Path:
    """A fresh empty directory beside ``directory``, with the mode a new directory would get.

    ValueError if ``directory`` exists and is not a directory; an OSError (creating the parent
    or the staging directory) becomes the one-line user error of :func:`_as_user_error`.
    """
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a directory")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            staging.chmod(0o777 & ~_umask())
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as err:
        raise _as_user_error(err, directory) from None
    return staging


@contextmanager
def staged_directory(directory: Path, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """A fresh staging directory beside ``directory``; its files replace ``directory``'s on
    success.

    The caller writes (or streams) files into the yielded path. When the block ends without
    an exception: a missing ``directory`` is created by renaming the staging directory; an
    existing one receives each file by rename and loses the files named in ``replaces`` that
    this write did not produce (leftovers of a previous output); other files are left alone.
    On any exception the staging directory is removed and ``directory`` is untouched.
    ValueError if ``directory`` exists and is not a directory.
    """
    directory = Path(directory)
    staging = _new_staging(directory)
    try:
        yield staging
        produced = sorted(p.name for p in staging.iterdir())
        if not directory.exists():
            staging.rename(directory)
            return
        for name in produced:
            (staging / name).replace(directory / name)
        for name in set(replaces) - set(produced):
            (directory / name).unlink(missing_ok=True)
    except OSError as err:
        raise _as_user_error(err, directory) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_files_atomic(
    directory: Path, files: Mapping[str, str | bytes], replaces: Iterable[str] = ()
) -> None:
    """Write ``files`` (name -> text or bytes) into ``directory`` (see :func:`staged_directory`)."""
    with staged_directory(directory, replaces) as staging:
        for name, data in files.items():
            if isinstance(data, bytes):
                (staging / name).write_bytes(data)
            else:
                (staging / name).write_text(data, encoding="utf-8")


@contextmanager
def staged_tree(directory: Path) -> Iterator[Path]:
    """A fresh staging directory beside ``directory`` that replaces it whole on success.

    For outputs with subdirectories (a report and its plots): when the block ends without an
    exception, an existing ``directory`` is renamed aside, the staging directory renamed into
    its place, and the old tree removed — readers see the old tree or the new one, never a
    mix. On any exception the staging directory is removed and ``directory`` is untouched.
    ValueError if ``directory`` exists and is not a directory.
    """
    directory = Path(directory)
    staging = _new_staging(directory)
    old: Path | None = None
    try:
        yield staging
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            directory.replace(old / directory.name)
            try:
                staging.rename(directory)
            except OSError:
                (old / directory.name).replace(directory)  # put the old tree back
                raise
        else:
            staging.rename(directory)
    except OSError as err:
        raise _as_user_error(err, directory) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
