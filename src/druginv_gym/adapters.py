"""Other libraries' agents and vector-env APIs, on the library's envs and scoring.

* :func:`as_policy` turns what an RL library gives (a Stable-Baselines3 model, an RLlib
  algorithm of either API stack or an RLlib ``RLModule``, a TorchRL policy module, a plain
  function ``obs -> action``) into the library's policy
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

__all__ = [
    "CallablePolicy",
    "ModelPolicy",
    "RLModulePolicy",
    "TorchRLPolicy",
    "as_policy",
    "is_library_policy",
    "sb3_vec_env",
]


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
        if not _is_model(model):
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


class RLModulePolicy:
    """An RLlib algorithm of the new API stack (its default module, ``algo.get_module()``) or
    an ``RLModule``, as a policy: the module's inference pass on one observation, the greedy
    action of its action distribution (``deterministic``, default) or a sample of it, and the
    action mapped to the env's space as RLlib's env runners map it (``normalize_actions``:
    from [-1, 1] onto the Box; else ``clip_actions``: clipped into it). With an algorithm both
    come from its config; with a bare module they default to RLlib's defaults (``True``,
    ``False``). Needs RLlib and torch (the module's framework)."""

    def __init__(
        self,
        obj: Any,
        deterministic: bool = True,
        normalize_actions: bool | None = None,
        clip_actions: bool | None = None,
    ) -> None:
        if _is_rllib_new_api(obj):
            module = obj.get_module()
            normalize, clip = obj.config.normalize_actions, obj.config.clip_actions
        elif _is_rl_module(obj):
            module, normalize, clip = obj, True, False
        else:
            raise ValueError(
                f"{type(obj).__name__} is neither an RLlib algorithm of the new API stack "
                "(get_module) nor an RLModule (forward_inference)"
            )
        self.module = module
        self.deterministic = bool(deterministic)
        self.normalize_actions = bool(normalize if normalize_actions is None else normalize_actions)
        self.clip_actions = bool(clip if clip_actions is None else clip_actions)

    def reset(self) -> None:
        """Nothing to forget (the module is feed-forward; a recurrent one is not supported)."""

    def act(self, obs: np.ndarray) -> Any:
        import torch
        from ray.rllib.utils.spaces.space_utils import (
            clip_action,
            get_base_struct_from_space,
            unsquash_action,
        )

        with torch.no_grad():
            batch = {"obs": torch.as_tensor(np.asarray(obs)[None], dtype=torch.float32)}
            out = self.module.forward_inference(batch)
            if "actions" in out:  # a module that picks its actions itself
                action = out["actions"][0].numpy()
            else:
                dist = self.module.get_inference_action_dist_cls().from_logits(
                    out["action_dist_inputs"]
                )
                if self.deterministic:
                    dist = dist.to_deterministic()
                action = dist.sample()[0].numpy()
        space = get_base_struct_from_space(self.module.action_space)
        if self.normalize_actions:
            return unsquash_action(action, space)
        if self.clip_actions:
            return clip_action(action, space)
        return action

    def __repr__(self) -> str:
        return f"RLModulePolicy({type(self.module).__name__})"


class TorchRLPolicy:
    """A TorchRL policy (a ``tensordict.nn.TensorDictModule``, a ``ProbabilisticActor``, a
    ``TensorDictSequential``...) as a policy: one observation goes in as a batch of one under
    ``obs_key`` (TorchRL's ``"observation"``, float32 as its ``GymEnv`` gives it), the action is
    read from ``action_key``, under TorchRL's deterministic interaction type (a distribution's
    mode or mean; ``deterministic=False``: a sample). Needs tensordict (TorchRL's)."""

    def __init__(
        self,
        module: Any,
        deterministic: bool = True,
        obs_key: str = "observation",
        action_key: str = "action",
    ) -> None:
        if not _is_tensordict_module(module):
            raise ValueError(
                f"{type(module).__name__} is not a TorchRL policy module (in_keys, out_keys)"
            )
        if obs_key not in module.in_keys:
            raise ValueError(f"obs_key = {obs_key!r} is not one of the module's in_keys")
        self.module = module
        self.deterministic = bool(deterministic)
        self.obs_key, self.action_key = obs_key, action_key

    def reset(self) -> None:
        """Nothing to forget (a recurrent module's state is not carried)."""

    def act(self, obs: np.ndarray) -> Any:
        import torch
        from tensordict import TensorDict
        from tensordict.nn import InteractionType, set_interaction_type

        kind = InteractionType.DETERMINISTIC if self.deterministic else InteractionType.RANDOM
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32)[None])
        td = TensorDict({self.obs_key: obs_t}, batch_size=[1])
        with torch.no_grad(), set_interaction_type(kind):
            out = self.module(td)
        return out[self.action_key][0].cpu().numpy()

    def __repr__(self) -> str:
        return f"TorchRLPolicy({type(self.module).__name__})"


def _is_tensordict_module(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, "in_keys") and hasattr(obj, "out_keys")


def _is_rllib_new_api(obj: Any) -> bool:
    """An RLlib algorithm on the new API stack (RLModule and Learner)."""
    config = getattr(obj, "config", None)
    return hasattr(obj, "get_module") and bool(
        getattr(config, "enable_rl_module_and_learner", False)
    )


def _is_rl_module(obj: Any) -> bool:
    return hasattr(obj, "forward_inference") and hasattr(obj, "get_inference_action_dist_cls")


def _is_model(obj: Any) -> bool:
    """A Stable-Baselines3 model (``predict``) or an RLlib algorithm of the old API stack
    (``compute_single_action``): what :class:`ModelPolicy` wraps."""
    return hasattr(obj, "predict") or hasattr(obj, "compute_single_action")


def is_library_policy(obj: Any) -> bool:
    """Whether ``obj`` is another library's agent that :func:`as_policy` wraps (an RLlib
    algorithm or module, a TorchRL module, a Stable-Baselines3 model): some of them are
    callable, and are not policy factories ``env -> policy``."""
    return (
        _is_rllib_new_api(obj) or _is_rl_module(obj) or _is_tensordict_module(obj) or _is_model(obj)
    )


def as_policy(obj: Any) -> Any:
    """``obj`` as a policy of the library's protocol: unchanged when it already has
    ``reset()`` and ``act(obs)``; a :class:`RLModulePolicy` for an RLlib algorithm of the new
    API stack (RLlib's default) or an ``RLModule``; a :class:`TorchRLPolicy` for a TorchRL
    policy module; a :class:`ModelPolicy` for a Stable-Baselines3 model or an RLlib algorithm
    of the old API; a :class:`CallablePolicy` for a function ``obs -> action``.
    ``ValueError`` names anything else."""
    if hasattr(obj, "act") and hasattr(obj, "reset"):
        return obj
    if _is_rllib_new_api(obj) or _is_rl_module(obj):
        return RLModulePolicy(obj)
    if _is_tensordict_module(obj):
        return TorchRLPolicy(obj)
    if _is_model(obj):
        return ModelPolicy(obj)
    if callable(obj) and not isinstance(obj, type):
        return CallablePolicy(obj)
    raise ValueError(
        f"policy {obj!r} is none of: an object with reset() and act(obs), a Stable-Baselines3 "
        "model (predict), an RLlib algorithm (get_module or compute_single_action) or "
        "RLModule, a TorchRL policy module (in_keys, out_keys), a function obs -> action"
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
