"""Bookkeeping shared by the trainers: checkpoint metadata, the hyper-parameter table, the
policy returned at the end of training."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import druginv_gym
from druginv_agents.checkpoint import load_checkpoint
from druginv_agents.policy import AgentPolicy, load
from druginv_gym.config import CRITICALITY


def feature_names(env: gym.Env) -> tuple[list[str], list[str]]:
    """``(per-drug, global)`` feature names of the observation ``env`` returns: of its
    outermost wrapper that names them (a ``ForecastObservation`` adds forecast features),
    else of the base env."""
    get = env.get_wrapper_attr
    return list(get("drug_feature_names")), list(get("global_feature_names"))


def env_meta(algo: str, env_id: str, cfg: Any, env: gym.Env, **progress: Any) -> dict[str, Any]:
    """The JSON description saved with every checkpoint: algorithm, configuration, the env it
    trains on and the observation layout its network expects."""
    u = env.unwrapped
    drug, glob = feature_names(env)
    return {
        "algo": algo,
        "config": asdict(cfg),
        "env_id": env_id,
        "env_kwargs": cfg.env_kwargs,
        "scenario": u.config.name,
        "n_drugs": u.config.n_drugs,
        "n_levels": u.config.n_levels,
        "n_drug_features": len(drug),
        "n_global_features": len(glob),
        "drug_feature_names": drug,
        **progress,
    }


@dataclass(frozen=True)
class StepPlan:
    """How many env steps a run of ``asked`` total steps plays: whole rollouts (PPO: one
    episode in every env; DQN: one episode of every drug's decisions in every env) of
    ``per_rollout`` steps, ``asked // per_rollout`` of them (at least one).

    The count rounds *down*, as it always has: the shipped agents were trained so (PPO with
    ``--total-steps 300000``: 312 rollouts of 960, 299,520 steps), and rounding up would change
    what their published commands train (PPO's learning rate anneals over the rollout count).
    :meth:`describe` says it in one line, and how to ask for one rollout more.
    """

    asked: int
    per_rollout: int
    unit: str  # what one rollout is: "rollout", "episode"
    shape: str  # its size: "32 envs x 30 slots"

    def __post_init__(self) -> None:
        for name in ("asked", "per_rollout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r} must be an integer >= 1")

    @property
    def rollouts(self) -> int:
        """Whole rollouts run: ``asked`` rounded down, at least one."""
        return max(1, self.asked // self.per_rollout)

    @property
    def steps(self) -> int:
        """Env steps run."""
        return self.rollouts * self.per_rollout

    def describe(self, flag: str = "total_steps") -> str:
        """One line: ``total steps: 30,000 asked, 29,760 run (31 whole rollouts of 32 envs x 30
        slots, rounded down; --total-steps 30720 runs 32)``; ``flag`` names the setting in the
        hint (a command-line option, or ``total_steps`` of the configuration)."""
        plural = "" if self.rollouts == 1 else "s"
        whole = f"{self.rollouts:,} whole {self.unit}{plural} of {self.shape}"
        if self.steps == self.asked:
            return f"total steps: {self.steps:,} ({whole})"
        if self.steps > self.asked:
            return f"total steps: {self.asked:,} asked, {self.steps:,} run ({whole}, the least)"
        more = self.steps + self.per_rollout
        return (
            f"total steps: {self.asked:,} asked, {self.steps:,} run ({whole}, rounded down; "
            f"{flag}{' ' if flag.startswith('-') else '='}{more} runs {self.rollouts + 1:,})"
        )


#: First validation seed of the periodic evaluation; benchmark held-out seeds are small integers.
VALIDATION_SEED = 500_000


def penalty_weights(weight: Any, config: Any) -> np.ndarray:
    """``(N,)`` the shortage penalty's weight of each drug: ``weight`` itself for a number, or
    for a mapping criticality class -> weight (``{"V": 2, "E": 0.5}``; missing classes 0) the
    weight of each drug's class (``config.criticality``; ``ValueError`` without classes)."""
    n = config.n_drugs
    if not isinstance(weight, Mapping):
        return np.full(n, float(weight))
    if config.criticality is None:
        raise ValueError(
            f"shortage_penalty = {dict(weight)!r} is per class, but scenario {config.name!r} "
            "has no criticality classes"
        )
    return np.array([float(weight.get(c, 0.0)) for c in config.criticality])


def shortage_penalty(stock: np.ndarray, config: Any, weight: Any) -> np.ndarray:
    """The training-only cost of ending a slot below the shortage level ``C_lo``.

    ``weight`` is in units of the per-drug reward scale (``reward_scale / N``, one drug's
    nominal spend in a slot): each drug-slot whose end stock is below ``C_lo`` costs
    ``weight * reward_scale / N`` on top of the model's own cost. A number weighs every
    drug-slot the same, as in the shortage-rate metric; a mapping criticality class -> weight
    weighs each drug by its class (:func:`penalty_weights`). Returns an array shaped like
    ``stock``.
    """
    w = penalty_weights(weight, config)
    if not w.any():
        return np.zeros(np.shape(stock))
    below = np.asarray(stock) < np.asarray(config.band_lo) - 1e-9
    return w * config.reward_scale / config.n_drugs * below


def check_config(
    cfg: Any,
    integers: tuple[str, ...],
    positive: tuple[str, ...],
    unit: tuple[str, ...],
) -> None:
    """Validate a trainer's hyper-parameters: ``integers`` >= 1, ``positive`` finite and > 0,
    ``unit`` in [0, 1], ``shortage_penalty`` finite and >= 0 (a number, or a mapping of
    criticality classes to such numbers), ``env_kwargs`` JSON-storable.
    ``ValueError`` names the field and its value."""
    for name in integers:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} = {v!r} must be an integer >= 1")
    for name in positive:
        v = getattr(cfg, name)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} = {v!r} must be > 0")
    for name in unit:
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ValueError(f"{name} = {getattr(cfg, name)!r} must be in [0, 1]")
    penalty = cfg.shortage_penalty
    values = list(penalty.values()) if isinstance(penalty, Mapping) else [penalty]
    if isinstance(penalty, Mapping):
        bad = [k for k in penalty if k not in CRITICALITY]
        if bad:
            raise ValueError(f"shortage_penalty = {penalty!r}: {bad[0]!r} is not a class V, E, N")
    for v in values:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not (np.isfinite(v) and v >= 0)
        ):
            raise ValueError(f"shortage_penalty = {penalty!r} must be >= 0 (or class -> >= 0)")
    json.dumps(cfg.env_kwargs)  # must be storable in a checkpoint


def drug_rewards(info: dict[str, Any], config: Any, penalty_weight: float) -> np.ndarray:
    """(B, N) per-drug rewards of a slot: minus each drug's cost (``info["drug_costs"]``) plus
    its :func:`shortage_penalty`, over the per-drug reward scale ``reward_scale / N``."""
    cost = info["drug_costs"] + shortage_penalty(info["stock"], config, penalty_weight)
    return -cost / (config.reward_scale / config.n_drugs)


def resume_state(
    path: str | Path, algo: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load a ``last.pt`` of ``algo`` into ``model`` and ``optimizer``; returns its metadata.

    Raises ``ValueError`` for a checkpoint of another algorithm.
    """
    ckpt = load_checkpoint(path)
    if ckpt["meta"]["algo"] != algo:
        raise ValueError(f"{path}: a {ckpt['meta']['algo']!r} checkpoint, not {algo}")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["meta"]


def validate(
    writer: Any,
    algo: str,
    model: torch.nn.Module,
    meta: dict[str, Any],
    env: gym.Env,
    episodes: int,
    global_step: int,
    penalty_weight: Any = 0.0,
) -> float:
    """Score the greedy policy on the validation seeds, log ``eval/*``, return its score.

    The score is the mean episode cost plus, when a ``penalty_weight`` is > 0, the
    :func:`shortage_penalty` the training objective adds (``weight * reward_scale / N`` per
    drug-slot below ``C_lo``, the weight per class for a mapping), so the best checkpoint is
    the best on the objective trained for. The model is left in training mode afterwards.
    """
    df, drugs = druginv_gym.evaluate(
        env, AgentPolicy(algo, model, meta), episodes, VALIDATION_SEED, return_drugs=True
    )
    cost = float(df.total_cost.mean())
    rate = float(df.shortage_rate.mean())
    writer.add_scalar("eval/episode_cost", cost, global_step)
    writer.add_scalar("eval/shortage_rate", rate, global_step)
    config = env.unwrapped.config
    weights = penalty_weights(penalty_weight, config)
    # each drug's slots below C_lo, by its weight, in per-drug reward-scale units
    below = drugs.below_band_slots.to_numpy().reshape(-1, config.n_drugs)
    score = cost + config.reward_scale / config.n_drugs * float((below @ weights).mean())
    if weights.any():
        writer.add_scalar("eval/score", score, global_step)
    model.train()
    return score


def hparams_table(cfg: Any) -> str:
    """The configuration as a markdown table (TensorBoard's text tab)."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in asdict(cfg).items())
    return "|param|value|\n|-|-|\n" + rows


def final_policy(logdir: Path) -> AgentPolicy:
    """The best checkpoint on the validation seeds, else the last one."""
    best = logdir / "best.pt"
    return load(best if best.exists() else logdir / "last.pt")
