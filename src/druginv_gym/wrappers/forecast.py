"""``ForecastObservation``: each drug's demand forecast appended to its observation features.

The forecast is computed from the demand the agent has already seen (``info["demand"]`` of the
slots played this episode), never from the episode's future trace. Before enough slots have been
played for the forecaster (``forecaster.min_history``), the history is padded at the front with
the scenario's nominal mean demand (``config.demand_mean``), the same prior the observation
shows as "last demand" before the first slot.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorWrapper
from gymnasium.vector.utils import batch_space

from druginv_gym.forecasting import make_forecaster
from druginv_gym.forecasting.base import check_horizon
from druginv_gym.info import require_full_info
from druginv_gym.observation import OBS_HIGH, observation_scales

__all__ = ["ForecastObservation", "ForecastObservationVector"]


def _attr(env: Any, name: str) -> Any:
    """An attribute of the outermost env that has it (single or vector, wrapped or not)."""
    while True:
        if name in vars(env) or hasattr(type(env), name):
            return getattr(env, name)
        inner = getattr(env, "env", None)
        if inner is None or inner is env:
            raise AttributeError(f"{type(env).__name__} has no attribute {name!r}")
        env = inner


class _ForecastLayout:
    """Where the forecast features go: after each drug's own features (drug-major layout)."""

    def __init__(self, env: Any, forecaster: Any, horizon: int, single_space: spaces.Box) -> None:
        base = env.unwrapped
        if not hasattr(base, "config") or not hasattr(base, "action_mode"):
            raise ValueError(f"{type(base).__name__} is not a DR2O env")
        require_full_info(env, "ForecastObservation")  # it reads info["demand"]
        self.config = base.config
        self.forecaster = make_forecaster(forecaster)
        self.horizon = check_horizon(horizon)
        self.n = self.config.n_drugs
        drug = list(_attr(env, "drug_feature_names"))
        glob = list(_attr(env, "global_feature_names"))
        self.n_f = len(drug)
        self.drug_feature_names = drug + [f"forecast_{k}" for k in range(1, self.horizon + 1)]
        self.global_feature_names = glob
        self.feature_names = [
            f"{d}/{f}" for d in self.config.drug_names for f in self.drug_feature_names
        ] + glob
        self.scale = observation_scales(self.config).units
        cut = self.n * self.n_f

        def widen(bound: np.ndarray, fill: float) -> np.ndarray:
            per_drug = bound[:cut].reshape(self.n, self.n_f)
            extra = np.full((self.n, self.horizon), fill, dtype=np.float32)
            return np.concatenate([np.hstack([per_drug, extra]).ravel(), bound[cut:]])

        self.space = spaces.Box(
            widen(single_space.low, 0.0), widen(single_space.high, OBS_HIGH), dtype=np.float32
        )

    def forecast(self, history: np.ndarray) -> np.ndarray:
        """(..., N, horizon) normalised forecasts from ``history`` (..., L, N) units."""
        lead = history.shape[:-2]
        length = history.shape[-2]
        need = max(int(self.forecaster.min_history), 1) - length
        if need > 0:
            prior = np.broadcast_to(self.config.demand_mean, (*lead, need, self.n))
            history = np.concatenate([prior, history], axis=-2)
        flat = np.moveaxis(history, -1, -2).reshape(-1, history.shape[-2])
        pred = np.asarray(self.forecaster.predict(flat, self.horizon), dtype=np.float64)
        return np.clip(pred.reshape(*lead, self.n, self.horizon) / self.scale, 0.0, OBS_HIGH)

    def augment(self, obs: np.ndarray, forecast: np.ndarray) -> np.ndarray:
        """Insert ``forecast`` (..., N, h) after each drug's features of ``obs`` (..., D)."""
        cut = self.n * self.n_f
        lead = obs.shape[:-1]
        drug = obs[..., :cut].reshape(*lead, self.n, self.n_f)
        merged = np.concatenate([drug, forecast.astype(np.float32)], axis=-1)
        return np.concatenate([merged.reshape(*lead, -1), obs[..., cut:]], axis=-1).astype(
            np.float32
        )


class ForecastObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Append an ``horizon``-slot demand forecast to every drug's observation features.

    Args:
        env: a single DR2O env (any id).
        forecaster: a forecaster instance (fitted if it needs fitting), a name in the
            registry ``druginv_gym.forecasting.FORECASTERS`` that needs no training (the
            built-in ``"naive"``, ``"seasonal_naive"``, ``"moving_average"``,
            ``"exponential_smoothing"``, or one added with ``register_forecaster``), or the
            path of a saved neural forecaster; resolved by ``make_forecaster``.
        horizon: slots ahead to forecast (>= 1).

    The observation keeps the drug-major layout: per drug its features then ``forecast_1 ..
    forecast_h`` (units, divided by the observation's units scale), then the global features;
    ``feature_names`` and ``drug_feature_names`` are extended accordingly. In the sequential id
    the forecast is refreshed once per slot.
    """

    def __init__(self, env: gym.Env, forecaster: Any, horizon: int = 3) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, forecaster=forecaster, horizon=horizon)
        gym.Wrapper.__init__(self, env)
        self._layout = _ForecastLayout(env, forecaster, horizon, env.observation_space)
        self.forecaster = self._layout.forecaster
        self.horizon = self._layout.horizon
        self.observation_space = self._layout.space
        self.feature_names = self._layout.feature_names
        self.drug_feature_names = self._layout.drug_feature_names
        self.global_feature_names = self._layout.global_feature_names
        self._history: list[np.ndarray] = []
        self._forecast = np.zeros((self._layout.n, self.horizon))

    @property
    def demand_history(self) -> np.ndarray:
        """Demand seen so far this episode, ``(slots, N)`` units."""
        if not self._history:
            return np.zeros((0, self._layout.n))
        return np.stack(self._history)

    def _refresh(self) -> None:
        self._forecast = self._layout.forecast(self.demand_history)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._history = []
        self._refresh()
        return self._layout.augment(obs, self._forecast), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if info.get("slot_done", True):
            self._history.append(np.asarray(info["demand"], dtype=np.float64).copy())
            self._refresh()
        return self._layout.augment(obs, self._forecast), reward, terminated, truncated, info


class ForecastObservationVector(VectorWrapper):
    """:class:`ForecastObservation` for the native vector env (all sub-envs batched).

    Histories are kept per sub-env; the NEXT_STEP autoreset clears them. The forecaster is
    called once per slot on all ``num_envs x N`` series at once.
    """

    def __init__(self, env: gym.vector.VectorEnv, forecaster: Any, horizon: int = 3) -> None:
        super().__init__(env)
        self._layout = _ForecastLayout(env, forecaster, horizon, env.single_observation_space)
        self.forecaster = self._layout.forecaster
        self.horizon = self._layout.horizon
        self.single_observation_space = self._layout.space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.feature_names = self._layout.feature_names
        self.drug_feature_names = self._layout.drug_feature_names
        self.global_feature_names = self._layout.global_feature_names
        self._history: list[np.ndarray] = []
        self._ended = False
        self._forecast = np.zeros((self.num_envs, self._layout.n, self.horizon))

    def _refresh(self) -> None:
        hist = (
            np.stack(self._history, axis=1)
            if self._history
            else np.zeros((self.num_envs, 0, self._layout.n))
        )
        self._forecast = self._layout.forecast(hist)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._history, self._ended = [], False
        self._refresh()
        return self._layout.augment(obs, self._forecast), info

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        if self._ended:  # this step was the autoreset: a new episode begins
            self._history, self._ended = [], False
            self._refresh()
        elif np.all(info.get("slot_done", True)):
            self._history.append(np.asarray(info["demand"], dtype=np.float64).copy())
            self._refresh()
        self._ended = bool(np.any(terminated | truncated))
        return self._layout.augment(obs, self._forecast), reward, terminated, truncated, info
