"""Agents: short training end to end, checkpoints, a real learning test, safe loading."""

from __future__ import annotations

import pickle
from pathlib import Path

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
@pytest.mark.parametrize(
    ("band_lo", "penalty", "cost", "shortage"),
    [
        # Orders exactly the missing units (level 3 of 0..10 when empty): 5 x 30 = 150.
        (0.0, 0.0, 150.0, 0.0),
        # With C_lo = 3 and a shortage penalty of one reward scale per drug-slot below it, the
        # optimum keeps 3 units in stock: level 6 first, then 3: 60 + 4 x 30 = 180, no
        # drug-slot below C_lo (the band itself costs nothing here: penalty_lo = 0).
        (3.0, 1.0, 180.0, 0.0),
    ],
)
def test_dqn_learns_the_known_optimum_of_one_drug(tmp_path, band_lo, penalty, cost, shortage):
    """Demand 3/slot, price 10, unmet demand 100/unit, storage free, no initial stock."""
    from druginv_gym.exogenous import PriceProcess, StorageRateProcess, UniformDemand

    cfg_env = one_drug_config(
        horizon=5,
        shelf_life=[10],
        band_lo=[band_lo],
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
        shortage_penalty=penalty,
    )
    policy = dqn.train(cfg, logdir=tmp_path, progress=False)
    env = gym.make("DrugRefillSequential-v0", config=cfg_env)
    df = druginv_gym.evaluate(env, policy, 3, 0)
    assert df.total_cost.tolist() == pytest.approx([cost] * 3)
    assert df.shortage_rate.tolist() == pytest.approx([shortage] * 3)


def test_shortage_penalty_charges_each_drug_slot_below_c_lo():
    from druginv_agents.common import shortage_penalty

    config = druginv_gym.make_scenario("paper", n_drugs=4, horizon=5)
    stock = np.stack([config.band_lo - 1e-3, config.band_lo, config.band_lo + 1.0])
    unit = config.reward_scale / 4
    expected = np.zeros((3, 4))
    expected[0] = 2.5 * unit
    np.testing.assert_allclose(shortage_penalty(stock, config, 2.5), expected)
    assert not shortage_penalty(stock, config, 0.0).any()
    with pytest.raises(ValueError, match="shortage_penalty = -1"):
        ppo.PPOConfig(shortage_penalty=-1.0)
    with pytest.raises(ValueError, match="shortage_penalty = nan"):
        dqn.DQNConfig(shortage_penalty=float("nan"))


def test_shortage_penalty_per_criticality_class():
    from druginv_agents.common import penalty_weights, shortage_penalty

    config = druginv_gym.make_scenario("paper", n_drugs=3, horizon=5)
    classed = config.replace(criticality=["N", "V", "E"])
    weights = {"V": 4.0, "E": 1.0}
    assert penalty_weights(weights, classed).tolist() == [0.0, 4.0, 1.0]
    stock = np.stack([classed.band_lo - 1.0, classed.band_lo + 1.0])
    unit = classed.reward_scale / 3
    np.testing.assert_allclose(
        shortage_penalty(stock, classed, weights), [[0.0, 4 * unit, unit], [0.0, 0.0, 0.0]]
    )
    with pytest.raises(ValueError, match="has no criticality classes"):
        penalty_weights(weights, config)
    with pytest.raises(ValueError, match="'X' is not a class"):
        ppo.PPOConfig(shortage_penalty={"X": 1.0})
    with pytest.raises(ValueError, match="must be >= 0"):
        dqn.DQNConfig(shortage_penalty={"V": -1.0})


@pytest.mark.parametrize(
    ("criticality", "penalty"), [(None, 3.0), (["V"], {"V": 3.0, "N": 100.0})], ids=["one", "class"]
)
def test_ppo_validation_score_adds_the_shortage_penalty(tmp_path, criticality, penalty):
    # Refills of at most 1 unit against a demand of about 3 keep the stock under C_lo = 2; a
    # penalty per class charges the (vital) drug's 3, not the non-essential weight.
    config = one_drug_config(
        horizon=6, refill_hi=[1.0], initial_stock=[0.0], criticality=criticality
    )
    cfg = ppo.PPOConfig(
        env_kwargs={"config": config.to_dict()},
        total_steps=8 * 6 * 2,
        num_envs=8,
        eval_every=1,
        eval_episodes=2,
        shortage_penalty=penalty,
    )
    ppo.train(cfg, logdir=tmp_path, progress=False)
    cost = np.array(_scalars(tmp_path, "eval/episode_cost"))
    rate = np.array(_scalars(tmp_path, "eval/shortage_rate"))
    score = np.array(_scalars(tmp_path, "eval/score"))
    assert (rate > 0).all()
    np.testing.assert_allclose(score, cost + 3.0 * config.reward_scale * 6 * rate, rtol=1e-5)


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


def test_policy_refuses_an_observation_of_another_layout():
    """A DQN checkpoint reads the sequential id's features: a Box observation (11 features a
    drug, not 13) is refused with a clear error, not reshaped into nonsense."""
    policy = druginv_agents.load_pretrained("dqn-paper-30")
    box = gym.make("DrugRefill-v0", scenario="paper", n_drugs=7)
    obs, _ = box.reset(seed=0)
    with pytest.raises(ValueError, match=r"observation of size 80 does not fit this dqn policy"):
        policy.act(obs)


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


SHIPPED = [
    f"{algo}-{scenario}-{n}"
    for algo in ("dqn", "ppo")
    for scenario in ("paper", "paper-band")
    for n in (30, 50, 70)
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_agents_load_and_beat_tuned_base_stock(name):
    """Every shipped agent, those of the literal default and those of versions before 0.2
    (``*-paper-band-*``, on the scenario they were trained for), beats base-stock at its
    default level on 3 held-out seeds."""
    from druginv_gym.baselines import BaseStock

    assert name in druginv_agents.list_pretrained()
    policy = druginv_agents.load_pretrained(name)
    algo, rest = name.split("-", 1)
    scenario, n = rest.rsplit("-", 1)
    env_id = "DrugRefillSequential-v0" if algo == "dqn" else "DrugRefill-v0"
    assert policy.env_id == env_id
    assert policy.env_kwargs == {"scenario": scenario, "n_drugs": int(n)}
    env = gym.make(policy.env_id, **policy.env_kwargs)
    agent = druginv_gym.evaluate(env, policy, 3, seed=0).total_cost
    box = gym.make("DrugRefill-v0", **policy.env_kwargs)
    base = druginv_gym.evaluate(box, BaseStock(box, level=1.5), 3, seed=0).total_cost
    assert (agent < base).all()


def test_shipped_ppo_70_beats_the_papers_baselines():
    """What holds of the headline agent on held-out seeds (``benchmarks/RESULTS.md``): a lower
    cost than each of the paper's three baselines and tuned base-stock, a lower shortage rate
    than over-provisioning and ski-rental, and no more unexpected stock than any of them. Not
    asserted, because it does not hold: the paper's margins (12.31 / 10.4 / 11.8 %; ours are
    9 / 7 / 7 %), and a lower shortage rate than max-min (both ~0.02 %)."""
    from druginv_gym.baselines import BaseStock, MaxMin, OverProvisioning, SkiRental

    policy = druginv_agents.load_pretrained("ppo-paper-70")
    env = gym.make(policy.env_id, **policy.env_kwargs)
    agent = druginv_gym.evaluate(env, policy, 3, seed=0)
    for rule in (OverProvisioning(env), SkiRental(env), MaxMin(env)):
        other = druginv_gym.evaluate(env, rule, 3, seed=0)
        name = type(rule).__name__
        assert agent.total_cost.mean() < 0.95 * other.total_cost.mean(), name
        assert agent.unexpected_rate.mean() <= other.unexpected_rate.mean(), name
        if not isinstance(rule, MaxMin):
            assert agent.shortage_rate.mean() < other.shortage_rate.mean(), name
    tuned = druginv_gym.evaluate(env, BaseStock(env, 1.5), 3, seed=0)
    assert agent.total_cost.mean() < tuned.total_cost.mean()


def _published_forecast_agents() -> list[dict]:
    """``pretrained/forecast_agents.csv``: the shipped forecast-study agents and the held-out
    cost each is published with (``benchmarks/forecast_value.py ship``)."""
    from importlib import resources

    import pandas as pd

    path = resources.files("druginv_agents") / "pretrained" / "forecast_agents.csv"
    with path.open("rb") as fh:
        return pd.read_csv(fh).to_dict("records")


@pytest.mark.parametrize("row", _published_forecast_agents(), ids=lambda r: r["name"])
def test_shipped_forecast_agents_reproduce_their_published_cost(row):
    """Each loads with its forecaster (a file shipped beside it, for the fitted ones) and,
    played as the benchmark plays it (``pharma`` on its test weeks), costs what
    ``benchmarks/RESULTS.md`` publishes for it on the same held-out episodes."""
    from druginv_gym.benchmark import BenchmarkSpec, make_policy

    policy = druginv_agents.load_pretrained(row["name"])
    expected = set() if row["forecaster"] == "none" else {"forecast_1", "forecast_3"}
    assert expected <= set(policy.meta["drug_feature_names"])
    if row["forecaster"] in ("exponential_smoothing", "lstm", "cnn_lstm", "mlp"):
        assert Path(policy.observation_kwargs["forecaster"]).is_file()
    spec = BenchmarkSpec(
        scenario=row["scenario"],
        n_drugs=int(row["n_drugs"]),
        episodes=int(row["episodes"]),
        seed=int(row["first_seed"]),
        policies=(f"agent:{row['name']}",),
    )
    env, agent, _ = make_policy(spec.policies[0], spec, {})
    cost = druginv_gym.evaluate(env, agent, spec.episodes, spec.seed).total_cost.mean()
    assert cost == pytest.approx(row["cost"], rel=1e-6)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_forecast_policy_picks_a_shipped_forecast_agent_by_validation_only(algo):
    from druginv_gym.benchmark import BenchmarkSpec, make_policy

    published = [r for r in _published_forecast_agents() if r["algo"] == algo]
    assert published
    for scenario in sorted({r["scenario"] for r in published}):
        spec = BenchmarkSpec(scenario=scenario, episodes=1, policies=(f"{algo}-forecast",))
        _, agent, source = make_policy(f"{algo}-forecast", spec, {})
        shipped = [
            r["name"] for r in published if r["scenario"] == scenario and r["forecaster"] != "none"
        ]
        scores = {n: druginv_agents.load_pretrained(n).meta["best_eval_cost"] for n in shipped}
        assert source == min(scores, key=scores.get)
        assert agent.observation_kwargs  # it plays with its forecaster


@pytest.mark.slow
def test_training_killed_mid_way_resumes_from_its_last_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    logdir = tmp_path / "run"
    base = [sys.executable, "-m", "druginv_gym.cli", "train", "ppo", "--n-drugs", "2"]
    base += ["--horizon", "4", "--num-envs", "8", "--total-steps", "1600", "--logdir", str(logdir)]
    base += ["--set", "checkpoint_every=1", "--set", "eval_every=10", "--set", "eval_episodes=1"]
    proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = logdir / "last.pt"
    deadline = time.monotonic() + 120
    killed_at = 0
    while time.monotonic() < deadline:
        if last.exists():
            # Checkpoints are written atomically: one read while training writes the next is
            # whole, so a ValueError (a torn file) here is a failure, not a reason to retry.
            killed_at = int(load_checkpoint(last)["meta"]["update"])
            if killed_at >= 5:
                break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= killed_at < 50, "killed too late to test resuming"
    reloaded = druginv_agents.load(last)  # the kill never leaves a torn checkpoint
    assert reloaded.meta["update"] >= killed_at
    done = subprocess.run(
        [*base, "--resume", str(last)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    meta = druginv_agents.load(last).meta
    assert meta["update"] == 50 and meta["global_step"] == 1600
    assert (logdir / "best.pt").is_file()


#: Held-out costs of the shipped agents of scenario ``shortage`` on seeds 0 and 1, as
#: ``benchmarks/shortage.py`` measured them (``benchmarks/RESULTS.md``, "Where real shortages
#: come from"); greedy agents on a seeded trace replay them exactly.
SHORTAGE_AGENTS = {
    "ppo-shortage-70": (2624499.7899682526, 2600025.7370615704),
    "dqn-shortage-70": (2521708.4606948257, 2428382.0889766742),
}


@pytest.mark.parametrize("name", sorted(SHORTAGE_AGENTS))
def test_shipped_shortage_agents_reproduce_their_published_cost(name):
    """Each loads on the scenario it was trained for (the supply model's features in its
    observation) and costs what is published on the same held-out episodes; DQN's is below
    max-min's, PPO's within 0.1 % of over-provisioning's, the rule it learned."""
    from druginv_gym.baselines import MaxMin, OverProvisioning

    policy = druginv_agents.load_pretrained(name)
    assert policy.env_kwargs == {"scenario": "shortage", "n_drugs": 70}
    assert "fill_last" in policy.meta["drug_feature_names"]
    env = gym.make(policy.env_id, **policy.env_kwargs)
    costs = druginv_gym.evaluate(env, policy, 2, seed=0).total_cost.to_numpy()
    np.testing.assert_allclose(costs, SHORTAGE_AGENTS[name], rtol=1e-6)
    box = gym.make("DrugRefill-v0", **policy.env_kwargs)
    rule = MaxMin(box) if name.startswith("dqn") else OverProvisioning(box)
    other = druginv_gym.evaluate(box, rule, 2, seed=0).total_cost.to_numpy()
    if name.startswith("dqn"):
        assert (costs < other).all()
    else:
        np.testing.assert_allclose(costs, other, rtol=1e-3)


#: Held-out costs of the shipped agents of scenario ``hospital`` on seeds 0 and 1, as
#: ``benchmarks/classes.py`` measured them (``benchmarks/RESULTS.md``, "Classes, service levels
#: and substitution").
HOSPITAL_AGENTS = {
    "ppo-hospital-30": (855012.1344898023, 915517.3071792915),
    "dqn-hospital-30": (1160927.7750424126, 1193681.6713344466),
    "ppo-hospital-70": (3173234.0744406735, 2578778.284852936),
}


@pytest.mark.parametrize("name", sorted(HOSPITAL_AGENTS))
def test_shipped_hospital_agents_reproduce_their_published_cost(name):
    """Each loads on the scenario it was trained for (classes, substitution, the supply
    model's features) and costs what is published; ppo-hospital-30's is below max-min's
    (ppo-hospital-70's is not: benchmarks/RESULTS.md)."""
    from druginv_gym.baselines import MaxMin

    policy = druginv_agents.load_pretrained(name)
    n = int(name.rsplit("-", 1)[1])
    assert policy.env_kwargs == {"scenario": "hospital", "n_drugs": n}
    env = gym.make(policy.env_id, **policy.env_kwargs)
    assert env.unwrapped.config.substitution is not None
    costs = druginv_gym.evaluate(env, policy, 2, seed=0).total_cost.to_numpy()
    np.testing.assert_allclose(costs, HOSPITAL_AGENTS[name], rtol=1e-6)
    if name == "ppo-hospital-30":
        box = gym.make("DrugRefill-v0", **policy.env_kwargs)
        other = druginv_gym.evaluate(box, MaxMin(box), 2, seed=0).total_cost.to_numpy()
        assert (costs < other).all()
