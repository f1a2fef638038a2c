"""Atomic file writes: a temporary file in the target folder, then a rename.

A reader (or a crash) never sees a half-written file. The file gets the usual permissions
(``0o666`` minus the umask) rather than the owner-only mode of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then move it to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def make_out_dir(out: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output folder ``out``; ``ValueError`` naming it (as the command-line
    ``flag`` that gave it) when that is impossible."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{flag} {out}: cannot create it ({exc.strerror})") from None
    return out


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, write)


def load_torch_payload(path: str | os.PathLike, fmt: str, version: int, what: str) -> dict:
    """Read a ``torch.save``d dict safely and check its ``format`` and ``version`` tags.

    ``torch.load(weights_only=True)`` refuses anything but tensors and plain containers, so no
    code runs from the file. Raises ``ValueError`` naming the file for a missing, unreadable,
    foreign or wrong-version file (``what`` names the kind of checkpoint in messages).
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{path}: not a readable {what} checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ValueError(f"{path}: not a {fmt.split('.')[0]} {what} checkpoint")
    if data.get("version") != version:
        raise ValueError(f"{path}: checkpoint version {data.get('version')!r} is unsupported")
    return data
