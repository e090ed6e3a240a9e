"""Helpers shared by the ``tessera`` commands: all-or-nothing output, shipped traces, options.

Every file a command writes goes through :func:`write_atomic` or :func:`write_files_atomic`:
the content is written under a temporary name in the destination directory and renamed into
place, so an interrupted or failed command leaves either the old file or the new one, never a
partial one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import simulator
from simulator.drivers.spec import check_label_key

TRACES_DIR = "traces"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        tmp.chmod(0o666 & ~_umask())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files_atomic(
    directory: Path, files: Mapping[str, str], replaces: Iterable[str] = ()
) -> None:
    """Write ``files`` (name -> text) into ``directory``.

    All files are first written into a fresh temporary directory beside ``directory``. A
    missing ``directory`` is then created by renaming that temporary directory; an existing
    one receives each file by rename, and loses the files named in ``replaces`` that this
    write does not produce (a previous output's leftovers); other files are left alone.
    ValueError if ``directory`` exists and is not a directory.
    """
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        staging.chmod(0o777 & ~_umask())
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        if not directory.exists():
            staging.rename(directory)
            return
        for name in files:
            (staging / name).replace(directory / name)
        for name in set(replaces) - set(files):
            (directory / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def repo_root() -> Path | None:
    """The checkout holding the installed ``simulator`` package: the nearest directory above
    the package that contains a ``traces/`` data directory (not the ``simulator.traces``
    Python package); None when there is none (an installed wheel)."""
    package = Path(simulator.__file__).resolve().parent
    for directory in package.parents:
        traces = directory / TRACES_DIR
        if traces.is_dir() and not (traces / "__init__.py").exists():
            return directory
    return None


def shipped_file(relative: str, option: str) -> Path:
    """A file shipped in the repository (``traces/...``), for an option left at its default.

    ValueError naming the option when the repository or the file cannot be found.
    """
    root = repo_root()
    if root is None:
        raise ValueError(
            f"{option} not given and no tessera checkout with {TRACES_DIR}/ was found above "
            f"{Path(simulator.__file__).resolve().parent}; pass {option} PATH"
        )
    path = root / relative
    if not path.is_file():
        raise ValueError(f"{option} not given and the shipped {path} is missing; pass {option}")
    return path


def parse_topology(text: str | None) -> tuple[str, ...] | None:
    """``--topology KEY,KEY,...`` as a tuple of label keys (None when not given).

    ValueError naming the option and the offending key for an empty or invalid key.
    """
    if text is None:
        return None
    keys = tuple(part.strip() for part in text.split(","))
    for key in keys:
        if not key:
            raise ValueError(f"--topology {text!r}: empty label key")
        try:
            check_label_key(key)
        except ValueError as exc:
            raise ValueError(f"--topology: {exc}") from None
    if len(set(keys)) != len(keys):
        raise ValueError(f"--topology {text!r}: a level is repeated")
    return keys
