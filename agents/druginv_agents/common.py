"""Bookkeeping shared by the trainers: checkpoint metadata, the hyper-parameter table, the
policy returned at the end of training."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym

from druginv_agents.policy import AgentPolicy, load


def env_meta(algo: str, env_id: str, cfg: Any, env: gym.Env, **progress: Any) -> dict[str, Any]:
    """The JSON description saved with every checkpoint: algorithm, configuration, the env it
    trains on and the observation layout its network expects."""
    u = env.unwrapped
    return {
        "algo": algo,
        "config": asdict(cfg),
        "env_id": env_id,
        "env_kwargs": cfg.env_kwargs,
        "scenario": u.config.name,
        "n_drugs": u.config.n_drugs,
        "n_levels": u.config.n_levels,
        "n_drug_features": len(u.drug_feature_names),
        "n_global_features": len(u.global_feature_names),
        "drug_feature_names": list(u.drug_feature_names),
        **progress,
    }


def hparams_table(cfg: Any) -> str:
    """The configuration as a markdown table (TensorBoard's text tab)."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in asdict(cfg).items())
    return "|param|value|\n|-|-|\n" + rows


def final_policy(logdir: Path) -> AgentPolicy:
    """The best checkpoint on the validation seeds, else the last one."""
    best = logdir / "best.pt"
    return load(best if best.exists() else logdir / "last.pt")
