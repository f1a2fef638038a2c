"""Checks made before a command starts its work: output paths and checkpoint files.

A long run that can only fail at its end (an output folder it cannot write, a file given as a
checkpoint that is none) should fail at once, in one line: these raise
:class:`~druginv_gym.reporting.UserError` (``druginv`` prints it and exits with code 2). They
live below both :mod:`druginv_gym.cli` and :mod:`druginv_gym.sweep`, which both use them.
"""

from __future__ import annotations

from typing import Any

from druginv_gym import registry
from druginv_gym.reporting import UserError

__all__ = ["check_checkpoint", "check_out_dir", "check_out_file", "check_policy_file"]


def _cannot_write_in(folder: Any) -> str | None:
    """Why no file can be created in the existing folder ``folder`` (None if one can): a
    probe file is created there and removed."""
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".druginv-probe-")
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(probe)
    return None


def check_out_dir(path: Any, flag: str) -> Any:
    """Create the output folder ``path`` (given as ``flag``) now and check that files can be
    written in it, so that a bad one fails before any work; ``UserError`` in one line."""
    from pathlib import Path

    from druginv_gym.io import make_out_dir

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: a file is there, not a folder")
    try:
        make_out_dir(path, flag)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    reason = _cannot_write_in(path)
    if reason is not None:
        raise UserError(f"{flag} {path}: cannot write in it ({reason})")
    return path


def check_out_file(path: Any, flag: str) -> Any:
    """Check, before any work, that the output file ``path`` (given as ``flag``) can be
    written: not a folder, below a folder (or a path to one that can be created) where files
    can be created. Creates nothing; ``UserError`` in one line."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: a folder is there; name a file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{flag} {path}: {folder} is a file, not a folder")
    reason = _cannot_write_in(folder)
    if reason is not None:
        raise UserError(f"{flag} {path}: cannot write in {folder} ({reason})")
    return path


def _kind_of_file(head: bytes) -> str:
    """``a text file`` when the first bytes of a file are UTF-8 text, else ``not a PyTorch
    file``."""
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a character cut by the 4 KiB read
                return "a text file"
    return "not a PyTorch file"


def _checkpoint_problem(path: Any) -> str | None:
    """Why the existing file ``path`` cannot be a checkpoint, in a few words; None when it
    may be one (then the loader checks the rest, in messages of one line)."""
    import pickle
    import zipfile

    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    if not is_zip:
        what = "an empty file" if not head else _kind_of_file(head)
        return f"{what}; checkpoints are the zip files that torch.save writes"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        return f"an unreadable zip archive: {exc}"
    if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "a zip archive, but not one that torch.save writes"
    try:
        import torch
    except ImportError:  # the loader reports the missing extra
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return "it holds pickled Python objects; checkpoints hold only weights and JSON"
    except Exception as exc:  # torch raises several types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PyTorch cannot read it: {first[:120]}"
    return None


def check_checkpoint(path: Any, flag: str | None = None) -> None:
    """``UserError`` in one line (``<path> is not a druginv checkpoint (<reason>)``) when the
    file ``path`` cannot be a checkpoint, or is missing."""
    from pathlib import Path

    where = f"{flag} {path}" if flag else str(path)
    if not Path(path).is_file():
        raise UserError(f"{where}: no such checkpoint file")
    reason = _checkpoint_problem(path)
    if reason is not None:
        raise UserError(f"{where} is not a druginv checkpoint ({reason})")


def check_policy_file(name: str) -> None:
    """For an agent policy whose argument is an existing file (``agent:<path>``, or a path
    given bare), :func:`check_checkpoint` it."""
    from pathlib import Path

    try:
        entry, arg = registry.resolve(name)
    except ValueError:
        return
    if entry.kind == "agent" and arg is not None and Path(arg).is_file():
        check_checkpoint(arg)
