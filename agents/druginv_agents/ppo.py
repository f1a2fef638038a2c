"""PPO on ``DrugRefill-v0`` with the native vector env; one policy shared by every drug.

Reads top to bottom like CleanRL's ``ppo_continuous_action.py``, adapted to this problem:

* **Per-drug policy and value.** Each drug's action is a Gaussian over the logit of its order
  fraction, from the same MLP applied to that drug's features plus the global ones; the env
  action is ``sigmoid(u)``. The value is per drug too.
* **Per-drug credit.** The env reports each drug's slot cost (``info["drug_costs"]``); drug
  ``i``'s reward is minus its own cost over the per-drug reward scale
  (``reward_scale / N``), and its advantage comes from its own value. The drugs interact only
  through the total budget and storage, so this removes most of the noise of crediting 70
  actions with one total, while the objective is still the total cost.
* **Optional shortage penalty.** ``shortage_penalty > 0`` adds a training-only cost per
  drug-slot ending below ``C_lo`` (:func:`druginv_agents.common.shortage_penalty`), trading
  a little refilling cost for a lower shortage rate; evaluation always scores the model's cost.
* **Whole episodes per rollout.** Every update plays one full episode in each of ``num_envs``
  envs (the horizon is short and fixed), so no autoreset transition ever enters the batch and
  the last step bootstraps from 0 (the horizon ends the MDP).

TensorBoard tags follow CleanRL (``charts/episodic_return``, ``charts/SPS``, ``losses/...``)
plus ``charts/episode_cost``, ``charts/shortage_rate`` and ``eval/episode_cost`` (validation
seeds). Checkpoints (``last.pt``, ``best.pt``) hold the weights, the optimiser state and the
configuration as JSON; ``train(cfg, resume=path)`` continues from one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from druginv_agents.checkpoint import save_checkpoint
from druginv_agents.common import (
    StepPlan,
    check_config,
    drug_rewards,
    env_meta,
    feature_names,
    final_policy,
    hparams_table,
    resume_state,
    validate,
)
from druginv_agents.networks import PerDrugActorCritic
from druginv_agents.policy import AgentPolicy
from druginv_gym.info import require_full_info
from druginv_gym.progress import progress_bar

ENV_ID = "DrugRefill-v0"


@dataclass
class PPOConfig:
    """Hyper-parameters of :func:`train` (saved in every checkpoint)."""

    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"scenario": "paper"})
    total_steps: int = 300_000  # env steps (slots) summed over the vector envs
    num_envs: int = 32
    learning_rate: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = 0.05
    hidden: int = 64
    # Training-only cost per drug-slot ending below C_lo, in per-drug reward-scale units
    # (see common.shortage_penalty); a number, or class -> number ({"V": 2.0, "E": 0.5}) on a
    # scenario with criticality classes; 0 trains on the model's cost alone.
    shortage_penalty: Any = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 25  # updates
    eval_episodes: int = 5
    checkpoint_every: int = 25  # updates

    def __post_init__(self) -> None:
        check_config(
            self,
            integers=(
                "total_steps",
                "num_envs",
                "num_minibatches",
                "update_epochs",
                "hidden",
                "eval_every",
                "eval_episodes",
                "checkpoint_every",
            ),
            positive=("learning_rate", "clip_coef", "max_grad_norm"),
            unit=("gamma", "gae_lambda"),
        )

    def step_plan(self) -> StepPlan:
        """The env steps :func:`train` runs: whole rollouts of ``num_envs`` episodes."""
        env = gym.make(ENV_ID, **self.env_kwargs)
        try:
            return plan_steps(self, env.unwrapped.config.horizon)
        finally:
            env.close()


def plan_steps(cfg: PPOConfig, horizon: int) -> StepPlan:
    """``cfg.total_steps`` in whole rollouts of ``num_envs`` envs x ``horizon`` slots."""
    shape = f"{cfg.num_envs} envs x {horizon} slots"
    return StepPlan(cfg.total_steps, cfg.num_envs * horizon, "rollout", shape)


def _meta(cfg: PPOConfig, env: gym.Env, **progress: Any) -> dict[str, Any]:
    return env_meta("ppo", ENV_ID, cfg, env, **progress)


def train(
    cfg: PPOConfig,
    logdir: str | Path = "runs/ppo",
    resume: str | Path | None = None,
    progress: bool | None = None,
) -> AgentPolicy:
    """Train PPO; returns the best policy on the validation seeds (or the last one)."""
    from torch.utils.tensorboard import SummaryWriter

    logdir = Path(logdir)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)  # the envs draw from their own seeded generators
    envs = gym.make_vec(ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs)
    require_full_info(envs, "PPO training")  # per-drug rewards from info["drug_costs"]
    eval_env = gym.make(ENV_ID, **cfg.env_kwargs)
    config = envs.unwrapped.config
    n, horizon = config.n_drugs, config.horizon
    drug_features, global_features = feature_names(eval_env)
    model = PerDrugActorCritic(len(drug_features), len(global_features), cfg.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, eps=1e-5)
    batch = cfg.num_envs * horizon
    num_updates = plan_steps(cfg, horizon).rollouts  # rounded down (see StepPlan)
    start_update, global_step, best_cost = 1, 0, float("inf")
    if resume is not None:
        meta = resume_state(resume, "ppo", model, optimizer)
        start_update = int(meta["update"]) + 1
        global_step = int(meta["global_step"])
        best_cost = float(meta.get("best_eval_cost", float("inf")))
    writer = SummaryWriter(str(logdir))
    writer.add_text("hyperparameters", hparams_table(cfg))
    obs_buf = torch.zeros((horizon, cfg.num_envs, envs.single_observation_space.shape[0]))
    u_buf = torch.zeros((horizon, cfg.num_envs, n))
    logp_buf = torch.zeros((horizon, cfg.num_envs, n))
    rew_buf = torch.zeros((horizon, cfg.num_envs, n))
    val_buf = torch.zeros((horizon, cfg.num_envs, n))
    seeded = False

    def save(name: str) -> None:
        meta = _meta(
            cfg, eval_env, update=update, global_step=global_step, best_eval_cost=best_cost
        )
        save_checkpoint(
            logdir / name,
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "meta": meta},
        )

    bar = progress_bar(
        range(start_update, num_updates + 1), desc="ppo", unit="updates", enabled=progress
    )
    for update in bar:
        if cfg.anneal_lr:
            optimizer.param_groups[0]["lr"] = cfg.learning_rate * (1 - (update - 1) / num_updates)
        start = time.perf_counter()
        obs, _ = envs.reset(seed=None if seeded or resume is not None else cfg.seed)
        seeded = True
        ep_cost = np.zeros(cfg.num_envs)
        ep_return = np.zeros(cfg.num_envs)
        short = 0.0
        for t in range(horizon):
            x = torch.as_tensor(obs, dtype=torch.float32, device=device)
            with torch.no_grad():
                rows = model.rows(x)
                mean, value = model.mean(rows), model.value(rows)
                dist = torch.distributions.Normal(mean, model.log_std.exp())
                u = dist.sample()
                logp = dist.log_prob(u)
            obs, reward, _, _, info = envs.step(torch.sigmoid(u).cpu().numpy().astype(np.float32))
            obs_buf[t], u_buf[t], logp_buf[t], val_buf[t] = x, u, logp, value
            rew_buf[t] = torch.as_tensor(
                drug_rewards(info, config, cfg.shortage_penalty), dtype=torch.float32
            )
            ep_cost += info["costs"]["total"]
            ep_return += reward
            short += float((info["stock"] < config.band_lo - 1e-9).mean())
        global_step += batch
        # GAE per drug; the horizon terminates the episode (bootstrap from 0).
        adv = torch.zeros_like(rew_buf)
        last = torch.zeros((cfg.num_envs, n))
        for t in reversed(range(horizon)):
            next_value = val_buf[t + 1] if t + 1 < horizon else torch.zeros_like(last)
            delta = rew_buf[t] + cfg.gamma * next_value - val_buf[t]
            last = delta + cfg.gamma * cfg.gae_lambda * last
            adv[t] = last
        ret = adv + val_buf
        b_obs = obs_buf.reshape(batch, -1)
        b_u, b_logp = u_buf.reshape(batch, n), logp_buf.reshape(batch, n)
        b_adv, b_ret = adv.reshape(batch, n), ret.reshape(batch, n)
        mb = max(1, batch // cfg.num_minibatches)
        clipfracs, approx_kl = [], torch.tensor(0.0)
        for _epoch in range(cfg.update_epochs):
            perm = torch.randperm(batch)
            for s in range(0, batch, mb):
                idx = perm[s : s + mb]
                rows = model.rows(b_obs[idx])
                dist = torch.distributions.Normal(model.mean(rows), model.log_std.exp())
                logratio = dist.log_prob(b_u[idx]) - b_logp[idx]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item())
                a = b_adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = torch.max(
                    -a * ratio, -a * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)
                ).mean()
                v_loss = 0.5 * ((model.value(rows) - b_ret[idx]) ** 2).mean()
                entropy = dist.entropy().mean()
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
            if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                break
        sps = batch / (time.perf_counter() - start)
        writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
        writer.add_scalar("charts/episodic_return", ep_return.mean(), global_step)
        writer.add_scalar("charts/episode_cost", ep_cost.mean(), global_step)
        writer.add_scalar("charts/shortage_rate", short / horizon, global_step)
        writer.add_scalar("charts/SPS", sps, global_step)
        writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
        writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
        writer.add_scalar("losses/entropy", entropy.item(), global_step)
        writer.add_scalar("losses/approx_kl", approx_kl.item(), global_step)
        writer.add_scalar("losses/clipfrac", float(np.mean(clipfracs)), global_step)
        bar.set_postfix(cost=f"{ep_cost.mean():,.0f}", sps=f"{sps:,.0f}")
        is_last = update == num_updates
        if update % cfg.eval_every == 0 or is_last:
            cost = validate(
                writer,
                "ppo",
                model,
                _meta(cfg, eval_env),
                eval_env,
                cfg.eval_episodes,
                global_step,
                cfg.shortage_penalty,
            )
            if cost < best_cost:
                best_cost = cost
                save("best.pt")
        if update % cfg.checkpoint_every == 0 or is_last:
            save("last.pt")
    bar.close()
    writer.close()
    envs.close()
    return final_policy(logdir)
