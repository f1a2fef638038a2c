"""Agent checkpoints: weights as a ``state_dict``, everything else as JSON; no pickled objects.

Files are written atomically (temp file + rename) and read with ``torch.load(...,
weights_only=True)``, so loading never runs code from the file. Anything that is not a
well-formed checkpoint of this project raises ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from druginv_gym.io import atomic_write, load_torch_payload

FORMAT = "druginv_agents.checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, state dicts, numbers, strings; ``meta`` as a dict that is
    stored as JSON) atomically to ``path``."""
    data = dict(payload)
    data["format"] = FORMAT
    data["version"] = VERSION
    data["meta"] = json.dumps(payload["meta"])
    atomic_write(path, lambda tmp: torch.save(data, tmp))
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``meta`` comes back as a dict."""
    data = load_torch_payload(path, FORMAT, VERSION, "agent")
    try:
        data["meta"] = json.loads(data["meta"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: checkpoint metadata is not valid JSON ({exc})") from None
    for key in ("algo", "config", "env_id", "env_kwargs", "n_drug_features", "n_global_features"):
        if key not in data["meta"]:
            raise ValueError(f"{path}: checkpoint metadata lacks {key!r}")
    if "model" not in data:
        raise ValueError(f"{path}: checkpoint has no model weights")
    return data


def export_policy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a training checkpoint without its optimiser state: what a policy needs, smaller.

    This is how the shipped ``druginv_agents/pretrained/*.pt`` files are made from ``best.pt``.
    """
    data = load_checkpoint(src)
    payload = {"model": data["model"], "meta": {**data["meta"], "exported_from": Path(src).name}}
    return save_checkpoint(dst, payload)
