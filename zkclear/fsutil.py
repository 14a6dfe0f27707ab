"""Writing files so that a reader never sees half of one: the one atomic-write helper.

:func:`write_atomic` writes to a temporary file in the target's folder (created with
``O_EXCL`` and mode 0600, so nobody else can read it even for a moment), flushes it to
disk, gives it its final mode and renames it over the target; then it syncs the folder
so the rename survives a crash. A crash leaves the old file or the new one, never a
mixture, and never a stray temporary file that a reader would take for the real one (its
name starts with ``.`` and ends in ``.tmp``). Key files
(:func:`zkclear.privacy.keyfile.write_json_secret`), deployments, audit reports, pool
states, ceremony transcripts and generated sources all go through it.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o600,
                 overwrite: bool = True, make_dirs: bool = True) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically, with permissions ``mode``.

    ``overwrite=False`` refuses to replace an existing file (:class:`FileExistsError`),
    also one that appears while this one is written (the final step is a hard link,
    which fails if the name exists). ``make_dirs`` creates the missing folders.
    """
    target = Path(path)
    folder = target.parent
    if make_dirs:
        folder.mkdir(parents=True, exist_ok=True)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise FileExistsError(errno.EEXIST, "file exists", str(target))
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            _link_new(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return target


def _link_new(tmp: str, target: Path) -> None:
    """Give ``tmp`` the name ``target`` unless that exists (then FileExistsError)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links here: check, then rename (a narrow race)
        if target.exists() or target.is_symlink():
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, indent: int = 1,
                      mode: int = 0o600) -> Path:
    """``data`` as JSON (and a final newline), written with :func:`write_atomic`."""
    return write_atomic(path, json.dumps(data, indent=indent) + "\n", mode=mode)
