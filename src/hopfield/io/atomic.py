"""Atomic file writes shared by model files and pattern stores.

A new file is written under a temporary name in the destination's directory and
moved over the destination with ``os.replace`` once complete, so a crash leaves
either the old file or the new one. Two details make the result behave like a
plain ``open(path, "wb")``:

* the file gets the permissions a newly created file would get (``0o666`` less the
  process umask, typically ``0o644``), not ``mkstemp``'s private ``0o600``;
* a failure to create the temporary file (missing or read-only directory) raises an
  ``OSError`` that names the destination the caller asked for, not the temporary
  name, which the caller never chose.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["create_temporary", "default_file_mode"]


def default_file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open(..., "w")`` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def create_temporary(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """Open a temporary file next to ``path`` for an atomic write: ``(fd, temp path)``.

    The file has :func:`default_file_mode`. ``OSError`` (same subclass and errno)
    naming ``path`` when the directory cannot take the file.
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=suffix)
    except OSError as error:
        reason = error.strerror or str(error)
        raise type(error)(error.errno, f"cannot write {str(path)!r}: {reason}") from None
    os.fchmod(fd, default_file_mode())
    return fd, Path(name)
