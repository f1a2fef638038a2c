"""Other libraries' agents and vector-env APIs, on the library's envs and scoring.

* :func:`as_policy` turns what an RL library gives (a Stable-Baselines3 model, an RLlib
  algorithm of the old API, a plain function ``obs -> action``) into the library's policy
  protocol (``reset()``, ``act(obs)``), so that :func:`druginv_gym.evaluate`,
  :func:`druginv_gym.compare` and ``druginv benchmark`` score it like any baseline.
  ``evaluate`` applies it itself.
* :func:`sb3_vec_env` is a Stable-Baselines3 ``VecEnv`` over the native vector env (one numpy
  batch, not one Python env per sub-env), for training SB3 agents at the vector env's speed.

Neither imports a client library until asked: SB3 is needed only by :func:`sb3_vec_env` and
by models that are SB3's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["CallablePolicy", "ModelPolicy", "as_policy", "sb3_vec_env"]


class CallablePolicy:
    """A function ``obs -> action`` as a policy (nothing to reset)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        if not callable(fn):
            raise ValueError(f"{fn!r} is not callable")
        self.fn = fn

    def reset(self) -> None:
        """Nothing to forget."""

    def act(self, obs: np.ndarray) -> Any:
        return self.fn(obs)

    def __repr__(self) -> str:
        return f"CallablePolicy({self.fn!r})"


class ModelPolicy:
    """A Stable-Baselines3 model (``predict(obs, state, episode_start, deterministic)``,
    recurrent ones included: their state is kept through the episode and cleared at reset),
    or an RLlib algorithm of the old API (``compute_single_action(obs, explore=False)``), as
    a policy. ``deterministic``: the greedy action (default), as evaluation wants."""

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        if not (hasattr(model, "predict") or hasattr(model, "compute_single_action")):
            raise ValueError(
                f"{type(model).__name__} has neither predict() (Stable-Baselines3) nor "
                "compute_single_action() (RLlib)"
            )
        self.model = model
        self.deterministic = bool(deterministic)
        self.reset()

    def reset(self) -> None:
        self._state: Any = None
        self._start = True

    def act(self, obs: np.ndarray) -> Any:
        if hasattr(self.model, "predict"):
            action, self._state = self.model.predict(
                obs,
                state=self._state,
                episode_start=np.array([self._start]),
                deterministic=self.deterministic,
            )
            self._start = False
            return action
        return self.model.compute_single_action(obs, explore=not self.deterministic)

    def __repr__(self) -> str:
        return f"ModelPolicy({type(self.model).__name__})"


def as_policy(obj: Any) -> Any:
    """``obj`` as a policy of the library's protocol: unchanged when it already has
    ``reset()`` and ``act(obs)``; a :class:`ModelPolicy` for a Stable-Baselines3 model or an
    RLlib algorithm; a :class:`CallablePolicy` for a function ``obs -> action``.
    ``ValueError`` names anything else."""
    if hasattr(obj, "act") and hasattr(obj, "reset"):
        return obj
    if hasattr(obj, "predict") or hasattr(obj, "compute_single_action"):
        return ModelPolicy(obj)
    if callable(obj) and not isinstance(obj, type):
        return CallablePolicy(obj)
    raise ValueError(
        f"policy {obj!r} is none of: an object with reset() and act(obs), a Stable-Baselines3 "
        "model (predict), an RLlib algorithm (compute_single_action), a function obs -> action"
    )


def sb3_vec_env(env_id: str = "DrugRefill-v0", num_envs: int = 8, **kwargs: Any) -> Any:
    """A Stable-Baselines3 ``VecEnv`` of ``num_envs`` episodes of ``env_id`` stepped as one
    native numpy batch (``gym.make_vec(env_id, num_envs, autoreset_mode="same_step",
    **kwargs)``): the observations, rewards and ``dones`` SB3 expects, each sub-env's info as
    a dict (the last observation of an ended episode in ``"terminal_observation"``,
    ``"TimeLimit.truncated"`` set as SB3's own vector envs set it). ``seed(s)`` seeds the next
    reset with ``[s, s + 1, ...]``, as SB3's ``DummyVecEnv`` does. Needs stable-baselines3.
    """
    try:
        from stable_baselines3.common.vec_env import VecEnv
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "sb3_vec_env needs stable-baselines3: pip install stable-baselines3"
        ) from exc

    class DrugRefillSB3VecEnv(VecEnv):
        """SB3's ``VecEnv`` API over a native DR2O vector env (see :func:`sb3_vec_env`)."""

        def __init__(self) -> None:
            from druginv_gym.envs.registration import register_envs

            register_envs()  # the ids, when the package itself was not imported
            self.venv = gym.make_vec(
                env_id, num_envs=num_envs, autoreset_mode="same_step", **kwargs
            )
            super().__init__(
                num_envs, self.venv.single_observation_space, self.venv.single_action_space
            )
            self.render_mode = self.venv.render_mode
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            seeds = None if self._seeds[0] is None else list(self._seeds)
            obs, _ = self.venv.reset(seed=seeds, options=self._options[0] or None)
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = np.asarray(actions)

        def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
            if self._actions is None:
                raise RuntimeError("step_wait() without step_async()")
            obs, reward, terminated, truncated, info = self.venv.step(self._actions)
            self._actions = None
            dones = terminated | truncated
            # at an episode's end SB3 wants that step's info (the next episode's first one
            # is in the reset the batch already made)
            infos = _unbatch(info["final_info"] if dones.any() else info, self.num_envs)
            if dones.any():
                for b in np.flatnonzero(dones):
                    infos[b]["terminal_observation"] = info["final_obs"][b]
                    infos[b]["TimeLimit.truncated"] = bool(truncated[b] and not terminated[b])
            return obs, reward.astype(np.float32), dones, infos

        def close(self) -> None:
            self.venv.close()

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [self.venv.get_attr(attr_name)[i] for i in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            if len(list(self._get_indices(indices))) != self.num_envs:
                raise ValueError(
                    f"set_attr({attr_name!r}): the sub-envs share their attributes; "
                    "set them all (indices=None)"
                )
            self.venv.set_attr(attr_name, value)

        def env_method(
            self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
        ) -> list[Any]:
            out = self.venv.call(method_name, *method_args, **method_kwargs)
            return [out[i] for i in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
            wrapped = isinstance(self.venv, wrapper_class)
            return [wrapped for _ in self._get_indices(indices)]

        def get_images(self) -> Sequence[np.ndarray | None]:
            return [self.venv.render()] * self.num_envs

    return DrugRefillSB3VecEnv()


def _unbatch(info: dict[str, Any], b: int) -> list[dict[str, Any]]:
    """A batched info dict as ``b`` per-env dicts (nested dicts too; the ``final_*`` keys of
    an autoreset and their masks are left to the caller)."""
    out: list[dict[str, Any]] = [{} for _ in range(b)]
    for key, value in info.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        if isinstance(value, dict):
            for k, sub in enumerate(_unbatch(value, b)):
                out[k][key] = sub
        else:
            for k in range(b):
                out[k][key] = value[k]
    return out
