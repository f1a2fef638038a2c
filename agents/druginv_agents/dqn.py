"""DRLD: the paper's deep Q-network on ``DrugRefillSequential-v0`` (one drug per step).

Reads top to bottom like CleanRL's ``dqn.py``, adapted to the paper's section 4.4:

* The env decides the drugs of a slot one by one in priority order, so each decision sees the
  ones before it (``pending_order``, ``pending_spend``, ``pending_volume``).
* **One Q-network for every drug**: a drug's features plus the global ones in, Q-values over
  its refill levels out; it serves any number of drugs.
* **Per-drug transitions**: the decision for drug ``i`` in slot ``t`` is stored as
  ``(row_i(t), level, r_i(t), row_i(t+1), done)`` where ``r_i(t)`` is minus drug ``i``'s own
  slot cost (``info["drug_costs"]``) over the per-drug reward scale and ``row_i(t+1)`` is its
  row when it is decided in the next slot (``done`` after the last slot). The target is the
  paper's eq. 18, ``r + gamma * max_a Q_target(s', a)`` (Double DQN option: the online net picks
  ``a``, the target net scores it).
* Optional ``shortage_penalty``: a training-only cost per drug-slot ending below ``C_lo``
  (:func:`druginv_agents.common.shortage_penalty`).
* Replay memory, a target network updated every ``target_network_frequency`` gradient steps,
  linearly decaying epsilon-greedy exploration, Huber loss.

Episodes run whole in ``num_envs`` native vector envs (explicit resets, no autoreset
transitions). TensorBoard tags follow CleanRL (``losses/td_loss``, ``losses/q_values``,
``charts/SPS``, ``charts/epsilon``) plus ``charts/episode_cost``, ``charts/shortage_rate`` and
``eval/episode_cost``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

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
from druginv_agents.networks import PerDrugQNetwork
from druginv_agents.policy import AgentPolicy
from druginv_gym.info import require_full_info
from druginv_gym.progress import progress_bar

ENV_ID = "DrugRefillSequential-v0"


@dataclass
class DQNConfig:
    """Hyper-parameters of :func:`train` (saved in every checkpoint)."""

    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"scenario": "paper"})
    total_steps: int = 200_000  # per-drug decisions summed over the vector envs
    num_envs: int = 8
    learning_rate: float = 5e-4
    buffer_size: int = 200_000
    gamma: float = 0.99
    tau: float = 1.0
    target_network_frequency: int = 250  # gradient steps
    batch_size: int = 256
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.5
    learning_starts: int = 2_000  # transitions stored before learning
    train_frequency: int = 1  # gradient steps per 64 drug decisions (grad_steps_per_slot)
    double_dqn: bool = True
    hidden: int = 64
    # Training-only cost per drug-slot ending below C_lo, in per-drug reward-scale units
    # (see common.shortage_penalty); a number, or class -> number ({"V": 2.0, "E": 0.5}) on a
    # scenario with criticality classes; 0 trains on the model's cost alone.
    shortage_penalty: Any = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 5  # episodes (of all envs)
    eval_episodes: int = 3
    checkpoint_every: int = 5

    def __post_init__(self) -> None:
        check_config(
            self,
            integers=(
                "total_steps",
                "num_envs",
                "buffer_size",
                "target_network_frequency",
                "batch_size",
                "train_frequency",
                "hidden",
                "eval_every",
                "eval_episodes",
                "checkpoint_every",
            ),
            positive=("learning_rate",),
            unit=("gamma", "tau", "start_e", "end_e", "exploration_fraction"),
        )

    def step_plan(self) -> StepPlan:
        """The drug decisions :func:`train` makes: whole episodes of every env."""
        env = gym.make(ENV_ID, **self.env_kwargs)
        try:
            config = env.unwrapped.config
            return plan_steps(self, config.n_drugs, config.horizon)
        finally:
            env.close()


def plan_steps(cfg: DQNConfig, n_drugs: int, horizon: int) -> StepPlan:
    """``cfg.total_steps`` in whole episodes of ``num_envs`` envs x ``n_drugs`` drugs x
    ``horizon`` slots (one step per drug decision)."""
    shape = f"{cfg.num_envs} envs x {n_drugs} drugs x {horizon} slots"
    return StepPlan(cfg.total_steps, cfg.num_envs * n_drugs * horizon, "episode", shape)


def grad_steps_per_slot(cfg: DQNConfig, n_drugs: int) -> int:
    """Gradient steps after each slot of all envs: ``train_frequency`` per 64 drug decisions
    (8 envs x 8 drugs), at least one, so the updates per decision do not depend on
    ``num_envs``."""
    return max(1, cfg.train_frequency * n_drugs * cfg.num_envs // 64)


class ReplayBuffer:
    """A ring buffer of per-drug transitions (rows are ``F + G`` float32 features)."""

    def __init__(self, capacity: int, width: int, seed: int) -> None:
        self.s = np.zeros((capacity, width), np.float32)
        self.a = np.zeros(capacity, np.int64)
        self.r = np.zeros(capacity, np.float32)
        self.s2 = np.zeros((capacity, width), np.float32)
        self.d = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, s, a, r, s2, d) -> None:
        k = len(a)
        idx = (self.pos + np.arange(k)) % self.capacity
        self.s[idx], self.a[idx], self.r[idx], self.s2[idx], self.d[idx] = s, a, r, s2, d
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def sample(self, n: int) -> tuple[torch.Tensor, ...]:
        idx = self.rng.integers(0, self.size, size=n)
        return tuple(torch.as_tensor(x[idx]) for x in (self.s, self.a, self.r, self.s2, self.d))


def _meta(cfg: DQNConfig, env: gym.Env, **progress: Any) -> dict[str, Any]:
    return env_meta("dqn", ENV_ID, cfg, env, **progress)


def train(
    cfg: DQNConfig,
    logdir: str | Path = "runs/dqn",
    resume: str | Path | None = None,
    progress: bool | None = None,
) -> AgentPolicy:
    """Train DRLD; returns the best policy on the validation seeds (or the last one)."""
    from torch.utils.tensorboard import SummaryWriter

    logdir = Path(logdir)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    envs = gym.make_vec(ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs)
    require_full_info(envs, "DQN training")  # per-drug rewards from info["drug_costs"]
    eval_env = gym.make(ENV_ID, **cfg.env_kwargs)
    u = eval_env.unwrapped
    config = u.config
    n, horizon, levels = config.n_drugs, config.horizon, config.n_levels
    drug_features, global_features = feature_names(eval_env)
    n_f, n_g = len(drug_features), len(global_features)
    q = PerDrugQNetwork(n_f, n_g, levels, cfg.hidden).to(device)
    target = PerDrugQNetwork(n_f, n_g, levels, cfg.hidden).to(device)
    optimizer = torch.optim.Adam(q.parameters(), lr=cfg.learning_rate)
    episode, global_step, grad_steps, best_cost = 0, 0, 0, float("inf")
    if resume is not None:
        meta = resume_state(resume, "dqn", q, optimizer)
        episode = int(meta["episode"])
        global_step = int(meta["global_step"])
        grad_steps = int(meta["grad_steps"])
        best_cost = float(meta.get("best_eval_cost", float("inf")))
    target.load_state_dict(q.state_dict())
    buffer = ReplayBuffer(cfg.buffer_size, n_f + n_g, cfg.seed)
    rng = np.random.default_rng(cfg.seed + episode)
    writer = SummaryWriter(str(logdir))
    writer.add_text("hyperparameters", hparams_table(cfg))
    per_episode = cfg.num_envs * n * horizon
    n_episodes = plan_steps(cfg, n, horizon).rollouts  # rounded down (see StepPlan)
    explore_until = cfg.exploration_fraction * cfg.total_steps
    bar = progress_bar(
        range(episode + 1, n_episodes + 1), desc="dqn", unit="episodes", enabled=progress
    )
    td_loss = q_mean = torch.tensor(0.0)

    def save(name: str) -> None:
        meta = _meta(
            cfg,
            eval_env,
            episode=episode,
            global_step=global_step,
            grad_steps=grad_steps,
            best_eval_cost=best_cost,
        )
        save_checkpoint(
            logdir / name,
            {"model": q.state_dict(), "optimizer": optimizer.state_dict(), "meta": meta},
        )

    for episode in bar:
        start = time.perf_counter()
        obs, _ = envs.reset(seed=cfg.seed if episode == 1 else None)
        prev_rows = np.zeros((cfg.num_envs, n, n_f + n_g), np.float32)
        prev_act = np.zeros((cfg.num_envs, n), np.int64)
        prev_rew = np.zeros((cfg.num_envs, n), np.float32)
        ep_cost = np.zeros(cfg.num_envs)
        short = 0.0
        for t in range(horizon):
            slot_rows = np.zeros_like(prev_rows)
            slot_act = np.zeros_like(prev_act)
            for k in range(n):
                drug = int(config.priority[k])
                # only this drug's row: its features and the globals (split_obs's row, built
                # without the other drugs')
                row_np = np.concatenate((obs[:, drug * n_f : (drug + 1) * n_f], obs[:, -n_g:]), 1)
                row = torch.from_numpy(row_np).to(device)
                eps = max(
                    cfg.end_e,
                    cfg.start_e - (cfg.start_e - cfg.end_e) * global_step / max(explore_until, 1),
                )
                with torch.no_grad():
                    greedy = q(row).argmax(dim=1).cpu().numpy()
                explore = rng.random(cfg.num_envs) < eps
                action = np.where(explore, rng.integers(0, levels, cfg.num_envs), greedy)
                obs, _, _, _, info = envs.step(action)
                slot_rows[:, drug] = row_np
                slot_act[:, drug] = action
                global_step += cfg.num_envs
            # The slot is played: store last slot's transitions (their next state is this
            # slot's rows), then, at the horizon, this slot's terminal ones.
            rewards = drug_rewards(info, config, cfg.shortage_penalty).astype(np.float32)
            if t > 0:
                buffer.add(
                    prev_rows.reshape(-1, n_f + n_g),
                    prev_act.ravel(),
                    prev_rew.ravel(),
                    slot_rows.reshape(-1, n_f + n_g),
                    np.zeros(prev_act.size, np.float32),
                )
            if t == horizon - 1:
                buffer.add(
                    slot_rows.reshape(-1, n_f + n_g),
                    slot_act.ravel(),
                    rewards.ravel(),
                    np.zeros((slot_act.size, n_f + n_g), np.float32),
                    np.ones(slot_act.size, np.float32),
                )
            prev_rows, prev_act, prev_rew = slot_rows, slot_act, rewards
            ep_cost += info["costs"]["total"]
            short += float((info["stock"] < config.band_lo - 1e-9).mean())
            # Learn: train_frequency gradient steps per 64 drug decisions.
            if buffer.size >= cfg.learning_starts:
                for _ in range(grad_steps_per_slot(cfg, n)):
                    s, a, r, s2, d = buffer.sample(cfg.batch_size)
                    with torch.no_grad():
                        if cfg.double_dqn:
                            a2 = q(s2).argmax(dim=1, keepdim=True)
                            next_q = target(s2).gather(1, a2).squeeze(1)
                        else:
                            next_q = target(s2).max(dim=1).values
                        y = r + cfg.gamma * next_q * (1.0 - d)
                    pred = q(s).gather(1, a.unsqueeze(1)).squeeze(1)
                    td_loss = F.smooth_l1_loss(pred, y)
                    q_mean = pred.mean()
                    optimizer.zero_grad()
                    td_loss.backward()
                    optimizer.step()
                    grad_steps += 1
                    if grad_steps % cfg.target_network_frequency == 0:
                        for tp, p in zip(target.parameters(), q.parameters(), strict=True):
                            tp.data.copy_(cfg.tau * p.data + (1.0 - cfg.tau) * tp.data)
        sps = per_episode / (time.perf_counter() - start)
        writer.add_scalar("charts/episode_cost", ep_cost.mean(), global_step)
        writer.add_scalar(
            "charts/episodic_return", -ep_cost.mean() / config.reward_scale, global_step
        )
        writer.add_scalar("charts/shortage_rate", short / horizon, global_step)
        writer.add_scalar("charts/epsilon", eps, global_step)
        writer.add_scalar("charts/SPS", sps, global_step)
        writer.add_scalar("losses/td_loss", td_loss.item(), global_step)
        writer.add_scalar("losses/q_values", q_mean.item(), global_step)
        bar.set_postfix(cost=f"{ep_cost.mean():,.0f}", eps=f"{eps:.2f}")
        is_last = episode == n_episodes
        if episode % cfg.eval_every == 0 or is_last:
            cost = validate(
                writer,
                "dqn",
                q,
                _meta(cfg, eval_env),
                eval_env,
                cfg.eval_episodes,
                global_step,
                cfg.shortage_penalty,
            )
            if cost < best_cost:
                best_cost = cost
                save("best.pt")
        if episode % cfg.checkpoint_every == 0 or is_last:
            save("last.pt")
    bar.close()
    writer.close()
    envs.close()
    return final_policy(logdir)
