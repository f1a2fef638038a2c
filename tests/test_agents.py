"""Agents: short training end to end, checkpoints, a real learning test, safe loading."""

from __future__ import annotations

import pickle

import druginv_agents
import gymnasium as gym
import numpy as np
import pytest
from druginv_agents import dqn, ppo
from druginv_agents.checkpoint import load_checkpoint

import druginv_gym

from .helpers import one_drug_config

TINY = {"scenario": "paper", "n_drugs": 3, "horizon": 6}


def _scalars(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir))
    ea.Reload()
    return [e.value for e in ea.Scalars(tag)]


def test_ppo_trains_logs_and_reloads(tmp_path):
    cfg = ppo.PPOConfig(
        env_kwargs=TINY,
        total_steps=8 * 6 * 6,
        num_envs=8,
        eval_every=3,
        checkpoint_every=3,
        eval_episodes=2,
    )
    policy = ppo.train(cfg, logdir=tmp_path, progress=False)
    for tag in (
        "charts/episodic_return",
        "charts/SPS",
        "charts/episode_cost",
        "charts/shortage_rate",
        "losses/value_loss",
        "losses/policy_loss",
        "losses/entropy",
        "losses/approx_kl",
        "eval/episode_cost",
    ):
        values = _scalars(tmp_path, tag)
        assert values and np.isfinite(values).all(), tag
    assert policy.env_id == "DrugRefill-v0" and policy.env_kwargs == TINY
    env = gym.make(policy.env_id, **policy.env_kwargs)
    reloaded = druginv_agents.load(tmp_path / "last.pt")
    obs, _ = env.reset(seed=0)
    for _ in range(6):
        a, b = reloaded.act(obs), druginv_agents.load(tmp_path / "last.pt").act(obs)
        assert np.array_equal(a, b) and env.action_space.contains(a)
        obs, *_ = env.step(a)
    df = druginv_gym.evaluate(env, policy, 2, 0)
    assert np.isfinite(df.total_cost).all()


def test_ppo_resumes_from_checkpoint(tmp_path):
    cfg = ppo.PPOConfig(
        env_kwargs=TINY,
        total_steps=8 * 6 * 4,
        num_envs=8,
        eval_every=2,
        checkpoint_every=2,
        eval_episodes=1,
    )
    ppo.train(cfg, logdir=tmp_path, progress=False)
    first = load_checkpoint(tmp_path / "last.pt")["meta"]
    assert first["update"] == 4
    cfg.total_steps = 8 * 6 * 6
    ppo.train(cfg, logdir=tmp_path, resume=tmp_path / "last.pt", progress=False)
    meta = load_checkpoint(tmp_path / "last.pt")["meta"]
    assert meta["update"] == 6 and meta["global_step"] == first["global_step"] + 2 * 48


def test_dqn_trains_logs_and_reloads(tmp_path):
    cfg = dqn.DQNConfig(
        env_kwargs=TINY,
        total_steps=4 * 3 * 6 * 3,
        num_envs=4,
        learning_starts=20,
        batch_size=16,
        eval_every=3,
        eval_episodes=1,
    )
    policy = dqn.train(cfg, logdir=tmp_path, progress=False)
    for tag in (
        "losses/td_loss",
        "losses/q_values",
        "charts/SPS",
        "charts/episode_cost",
        "charts/epsilon",
        "eval/episode_cost",
    ):
        values = _scalars(tmp_path, tag)
        assert values and np.isfinite(values).all(), tag
    assert policy.env_id == "DrugRefillSequential-v0"
    env = gym.make(policy.env_id, **policy.env_kwargs)
    obs, _ = env.reset(seed=0)
    reloaded = druginv_agents.load(tmp_path / "last.pt")
    for _ in range(10):
        a = reloaded.act(obs)
        assert a == druginv_agents.load(tmp_path / "last.pt").act(obs)
        assert env.action_space.contains(a)
        obs, *_ = env.step(a)


@pytest.mark.slow
def test_dqn_learns_the_known_optimum_of_one_drug(tmp_path):
    """Demand 3/slot, price 10, unmet demand 100/unit, storage free, no initial stock: the
    optimum orders exactly the missing units (level 3 of 0..10 when empty): 5 x 30 = 150."""
    from druginv_gym.exogenous import PriceProcess, StorageRateProcess, UniformDemand

    cfg_env = one_drug_config(
        horizon=5,
        shelf_life=[10],
        band_lo=[0.0],
        band_hi=[100.0],
        penalty_lo=[0.0],
        penalty_hi=[0.0],
        shortage_cost=[100.0],
        initial_stock=[0.0],
        storage_capacity=10.0,
        demand=UniformDemand(3.0, 3.0),
        price=PriceProcess(volatility=0.0, premium_prob=0.0),
        storage=StorageRateProcess(0.0, 0.0),
        reward_scale=150.0,
    )
    cfg = dqn.DQNConfig(
        env_kwargs={"config": cfg_env.to_dict()},
        total_steps=8 * 5 * 150,
        num_envs=8,
        learning_starts=200,
        batch_size=64,
        learning_rate=1e-3,
        target_network_frequency=50,
        exploration_fraction=0.6,
        train_frequency=8,
        eval_every=25,
        eval_episodes=1,
        gamma=0.9,
    )
    policy = dqn.train(cfg, logdir=tmp_path, progress=False)
    env = gym.make("DrugRefillSequential-v0", config=cfg_env)
    df = druginv_gym.evaluate(env, policy, 3, 0)
    assert df.total_cost.tolist() == pytest.approx([150.0] * 3)


def test_load_refuses_bad_checkpoints(tmp_path, capsys):
    with pytest.raises(ValueError, match="no such checkpoint file"):
        druginv_agents.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(ValueError, match="not a readable agent checkpoint"):
        druginv_agents.load(junk)

    class Exploit:
        def __reduce__(self):
            return (print, ("code ran from a checkpoint",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(
        pickle.dumps({"format": "druginv_agents.checkpoint", "x": Exploit()}, protocol=2)
    )
    with pytest.raises(ValueError, match="not a readable agent checkpoint"):
        druginv_agents.load(evil)
    assert "code ran" not in capsys.readouterr().out

    cfg = ppo.PPOConfig(env_kwargs=TINY, total_steps=48, num_envs=8, eval_episodes=1)
    ppo.train(cfg, logdir=tmp_path / "run", progress=False)
    good = tmp_path / "run" / "last.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable agent checkpoint"):
        druginv_agents.load(truncated)
    import torch

    data = torch.load(good, weights_only=True)
    data["meta"] = data["meta"].replace('"hidden": 64', '"hidden": 32')
    torch.save(data, tmp_path / "wrong_arch.pt")
    with pytest.raises(ValueError, match="weights do not match the saved 'ppo' network"):
        druginv_agents.load(tmp_path / "wrong_arch.pt")


def test_policy_serves_another_number_of_drugs(tmp_path):
    cfg = ppo.PPOConfig(env_kwargs=TINY, total_steps=48, num_envs=8, eval_episodes=1)
    policy = ppo.train(cfg, logdir=tmp_path, progress=False)
    env = gym.make("DrugRefill-v0", n_drugs=7, horizon=4)
    obs, _ = env.reset(seed=0)
    assert policy.act(obs).shape == (7,)


def test_bad_config_values():
    with pytest.raises(ValueError, match="num_envs = 0"):
        ppo.PPOConfig(num_envs=0)
    with pytest.raises(ValueError, match=r"gamma = 1\.5"):
        dqn.DQNConfig(gamma=1.5)


def test_load_pretrained_unknown_name():
    with pytest.raises(ValueError, match="no pretrained agent 'nope'"):
        druginv_agents.load_pretrained("nope")


@pytest.mark.parametrize("name", ["ppo-paper-30", "ppo-paper-50", "ppo-paper-70"])
def test_shipped_agents_load_and_beat_tuned_base_stock(name):
    from druginv_gym.baselines import BaseStock

    assert name in druginv_agents.list_pretrained()
    policy = druginv_agents.load_pretrained(name)
    n = int(name.rsplit("-", 1)[1])
    assert policy.env_id == "DrugRefill-v0" and policy.env_kwargs == {
        "scenario": "paper",
        "n_drugs": n,
    }
    env = gym.make(policy.env_id, **policy.env_kwargs)
    agent = druginv_gym.evaluate(env, policy, 3, seed=0).total_cost
    base = druginv_gym.evaluate(env, BaseStock(env, level=1.5), 3, seed=0).total_cost
    assert (agent < base).all()
