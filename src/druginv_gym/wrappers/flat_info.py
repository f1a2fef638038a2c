"""``info`` without nested dicts, for clients that read infos as flat tables.

The env's ``info`` holds one nested dict, ``costs`` (``purchase``, ``storage``, ``penalty``,
``shortage``, ``total``). TorchRL's info reader expects flat keys: over a vector env it stops
with a spec mismatch on the nested one. :class:`FlatInfo` (single env) and
:class:`FlatInfoVector` (vector env) give the same info with every nested key moved up as
``<outer>_<inner>`` (``costs_total``); a vector env's ``final_info`` is flattened too, and
Gymnasium's ``_key`` masks follow their keys. Nothing else changes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv, VectorWrapper

__all__ = ["FlatInfo", "FlatInfoVector", "flatten_info"]


def flatten_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with each nested dict's keys moved up as ``<outer>_<inner>`` (recursively; a
    mask ``_outer``'s nested masks ``_inner`` become ``_outer_inner``)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, dict):
            if key.startswith("_"):  # a mask of a dict: its masks follow the flat keys
                continue
            for inner, sub in flatten_info(value).items():
                if inner.startswith("_"):
                    out[f"_{key}_{inner[1:]}"] = sub
                else:
                    out[f"{key}_{inner}"] = sub
        elif key.startswith("_") and isinstance(info.get(key[1:]), dict):
            continue  # the mask of a nested dict: replaced by its keys' masks
        else:
            out[key] = value
    return out


class FlatInfo(gym.Wrapper):
    """A single env whose ``info`` has no nested dicts (see the module)."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, flatten_info(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, flatten_info(info)


class FlatInfoVector(VectorWrapper):
    """A vector env whose ``info`` has no nested dicts (see the module); its
    ``autoreset_mode`` is the wrapped env's (TorchRL's ``GymWrapper`` reads it)."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.autoreset_mode = getattr(env, "autoreset_mode", env.metadata.get("autoreset_mode"))

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, flatten_info(info)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return obs, reward, terminated, truncated, flatten_info(info)
