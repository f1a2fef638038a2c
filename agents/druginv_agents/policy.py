"""Trained agents as policies of the shared protocol (``reset()``, ``act(obs)``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from druginv_agents.checkpoint import load_checkpoint
from druginv_agents.networks import PerDrugActorCritic, PerDrugQNetwork, split_obs

#: ``gym.make`` keyword arguments that shape the observation, not the scenario: an agent
#: trained with them must play with them (its network reads the forecast features).
OBSERVATION_KWARGS = ("forecaster", "forecast_horizon")


class AgentPolicy:
    """A trained DQN or PPO network acting greedily (no exploration).

    Attributes:
        algo: ``"dqn"`` or ``"ppo"``.
        env_id: the id it was trained on (``DrugRefillSequential-v0`` for DQN,
            ``DrugRefill-v0`` for PPO).
        env_kwargs: the ``gym.make`` keyword arguments of its training scenario.
        observation_kwargs: those of them that shape the observation (a forecast-informed
            agent's ``forecaster`` and ``forecast_horizon``; empty for the others): pass them
            to ``gym.make`` with any scenario the agent plays, or use :meth:`make_env`.
        meta: everything else saved with it (hyper-parameters, steps, scores).

    The networks are per drug, so the policy also acts on a scenario with another number of
    drugs, as long as the observation has the same features.
    """

    def __init__(self, algo: str, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        self.algo = algo
        self.model = model.eval()
        self.meta = meta
        self.env_id: str = meta["env_id"]
        self.env_kwargs: dict[str, Any] = dict(meta["env_kwargs"])
        self.observation_kwargs: dict[str, Any] = {
            k: self.env_kwargs[k] for k in OBSERVATION_KWARGS if k in self.env_kwargs
        }
        self._n_f = int(meta["n_drug_features"])
        self._n_g = int(meta["n_global_features"])
        if algo == "dqn":
            self._current = list(meta["drug_feature_names"]).index("is_current")

    def make_env(self, **scenario: Any) -> Any:
        """``gym.make(env_id, **scenario, **observation_kwargs)``: the env this agent plays
        on ``scenario`` (default: its training scenario), with the observation it reads."""
        import gymnasium as gym

        import druginv_gym  # noqa: F401  (registers the ids)

        kwargs = scenario or {
            k: v for k, v in self.env_kwargs.items() if k not in OBSERVATION_KWARGS
        }
        return gym.make(self.env_id, **kwargs, **self.observation_kwargs)

    def reset(self) -> None:
        """Nothing to forget: the policy is a function of the observation."""

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> Any:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        size = x.shape[1]
        if size <= self._n_g or (size - self._n_g) % self._n_f:
            raise ValueError(
                f"observation of size {size} does not fit this {self.algo} policy: it reads "
                f"{self._n_f} features per drug plus {self._n_g} global ones (trained on "
                f"{self.env_id}); use it on that id, or one with the same features"
            )
        rows = split_obs(x, self._n_f, self._n_g)
        if self.algo == "ppo":
            return torch.sigmoid(self.model.mean(rows))[0].numpy().astype(np.float32)
        drug = int(torch.argmax(rows[0, :, self._current]))
        return int(torch.argmax(self.model(rows[0, drug])))


def build_model(meta: dict[str, Any]) -> torch.nn.Module:
    cfg = meta["config"]
    if meta["algo"] == "ppo":
        return PerDrugActorCritic(meta["n_drug_features"], meta["n_global_features"], cfg["hidden"])
    if meta["algo"] == "dqn":
        return PerDrugQNetwork(
            meta["n_drug_features"], meta["n_global_features"], meta["n_levels"], cfg["hidden"]
        )
    raise ValueError(f"unknown algo {meta['algo']!r}")


def _resolve_forecaster(meta: dict[str, Any], folder: Path) -> None:
    """A forecaster saved with the agent is named by a path relative to the checkpoint's
    folder (how shipped agents carry theirs); make it absolute, so it loads from anywhere."""
    kwargs = meta.get("env_kwargs", {})
    spec = kwargs.get("forecaster")
    if isinstance(spec, str) and Path(spec).suffix and not Path(spec).is_absolute():
        kwargs["forecaster"] = str((folder / spec).resolve())


def load(path: str | os.PathLike) -> AgentPolicy:
    """The policy saved at ``path`` (a checkpoint of ``druginv_agents.dqn`` or ``.ppo``)."""
    data = load_checkpoint(path)
    meta = data["meta"]
    _resolve_forecaster(meta, Path(path).parent)
    try:
        model = build_model(meta)
        model.load_state_dict(data["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{path}: weights do not match the saved {meta.get('algo')!r} network ({exc})"
        ) from None
    return AgentPolicy(meta["algo"], model, meta)
