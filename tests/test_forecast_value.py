"""The forecasting chain of the value-of-a-forecast study: held-out data, forecasters fitted on
training data only, forecast-informed rules, MPC and agents, and no look-ahead anywhere."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import druginv_gym
from druginv_gym.baselines import MPC, BaseStock, StochasticMPC, TrueFuture, tune_base_stock
from druginv_gym.benchmark import BenchmarkSpec
from druginv_gym.forecasting import (
    ExponentialSmoothing,
    MLPForecaster,
    Naive,
    fit_forecaster,
    make_forecaster,
    training_series,
)
from druginv_gym.scenarios import held_out_options, register_scenario


def test_pharma_is_evaluated_on_its_test_weeks_and_tuned_on_its_train_weeks():
    spec = BenchmarkSpec(scenario="pharma", episodes=1, policies=("base-stock",))
    assert held_out_options("pharma") == held_out_options("pharma-8") == {"split": "test"}
    assert spec.config.name == "pharma-test" and spec.config.demand.split == "test"
    assert spec.make_env(held_out=False).unwrapped.config.demand.split == "train"
    assert held_out_options("paper") == {}
    # an explicit option wins over the held-out default
    own = BenchmarkSpec(
        scenario="pharma", episodes=1, policies=("base-stock",), scenario_options={"split": "all"}
    )
    assert own.config.demand.split == "all"


def test_registered_scenarios_can_declare_their_held_out_data():
    from druginv_gym.scenarios import HELD_OUT_OPTIONS, SCENARIOS, pharma_scenario

    register_scenario("pharma-copy", pharma_scenario, held_out={"split": "test"})
    try:
        assert held_out_options("pharma-copy") == {"split": "test"}
        register_scenario("pharma-copy", pharma_scenario, overwrite=True)  # no held_out now
        assert held_out_options("pharma-copy") == {}
    finally:
        SCENARIOS.pop("pharma-copy")
        HELD_OUT_OPTIONS.pop("pharma-copy", None)


def test_training_series_are_the_train_weeks_or_training_seeds():
    from druginv_gym.exogenous import ReplayDemand

    train = training_series("pharma")
    assert train.shape == (8, 229)
    # the same whatever split the config plays, and equal to the train split's series
    assert np.array_equal(training_series("pharma", split="test"), train)
    demand = druginv_gym.make_scenario("pharma").demand
    expected = ReplayDemand(demand.columns, "train", scale=demand.scale).series.T
    assert np.array_equal(train, expected)
    syn = training_series("seasonal", n_drugs=3, episodes=4)
    assert syn.shape == (12, 52)
    assert np.array_equal(syn, training_series("seasonal", n_drugs=3, episodes=4))
    with pytest.raises(ValueError, match="episodes = 0"):
        training_series("seasonal", episodes=0)


def test_changing_the_test_weeks_changes_no_fitted_parameter(monkeypatch):
    """Forecasters fitted for ``pharma`` see the train weeks only: doubling every sale of the
    test weeks leaves Holt's fitted parameters and an MLP's weights exactly as they were."""
    import druginv_gym.data as data
    from druginv_gym import exogenous

    def fitted() -> tuple[np.ndarray, ...]:
        exogenous._replay_series.cache_clear()
        es = fit_forecaster("exponential_smoothing", "pharma", split="test")
        mlp = MLPForecaster(epochs=2, progress=False).fit(training_series("pharma", split="test"))
        weights = np.concatenate([p.detach().numpy().ravel() for p in mlp.model.parameters()])
        return es.params.alpha, es.params.beta, es.params.phi, weights

    before = fitted()
    test_weeks = druginv_gym.make_scenario("pharma", split="test").demand.series.copy()
    real = data.load_pharma_sales

    def doubled(kind: str = "weekly") -> pd.DataFrame:
        frame = real(kind).copy()
        frame.loc[frame.index >= pd.Timestamp("2018-06-01")] *= 2
        return frame

    monkeypatch.setattr(data, "load_pharma_sales", doubled)
    try:
        after = fitted()
        # the doubling did reach the test weeks (the check below is not vacuous)
        doubled_weeks = druginv_gym.make_scenario("pharma", split="test").demand.series
        assert np.allclose(doubled_weeks, 2 * test_weeks) and test_weeks.sum() > 0
    finally:
        monkeypatch.undo()
        exogenous._replay_series.cache_clear()
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)


def test_exponential_smoothing_saves_loads_and_keeps_per_series_parameters(tmp_path):
    rng = np.random.default_rng(1)
    series = np.vstack([rng.poisson(5, 60), rng.poisson(40, 60) + np.arange(60)]).astype(float)
    es = ExponentialSmoothing().fit(series)
    path = es.save(tmp_path / "holt.json")
    back = make_forecaster(str(path))
    assert isinstance(back, ExponentialSmoothing)
    for k in ("alpha", "beta", "gamma", "phi"):
        assert np.array_equal(getattr(back.params, k), getattr(es.params, k))
    assert np.array_equal(back.predict(series[:, :30], 3), es.predict(series[:, :30], 3))
    # three envs x the same two series: each row keeps its own series' parameters
    tiled = np.tile(series[:, :30], (3, 1))
    assert np.allclose(es.predict(tiled, 2), np.tile(es.predict(series[:, :30], 2), (3, 1)))
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match=r"bad\.json: not a saved ExponentialSmoothing"):
        make_forecaster(str(tmp_path / "bad.json"))


class _CountingNaive(Naive):
    min_history = 1

    def __init__(self) -> None:
        self.fits = 0

    def fit(self, series: np.ndarray) -> _CountingNaive:
        self.fits += 1
        return self


def test_a_fitted_forecaster_is_used_as_fitted_and_a_name_is_refitted():
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=5)
    counting = _CountingNaive()
    druginv_gym.evaluate(env, MPC(env, window=3, forecaster=counting), 1, 0)
    assert counting.fits == 0
    base = BaseStock(env, level=2.0, forecaster=counting)
    druginv_gym.evaluate(env, base, 1, 0)
    assert counting.fits == 0 and base._refit is False
    assert BaseStock(env, forecaster="moving_average")._refit is True


def test_forecast_base_stock_orders_up_to_the_forecast():
    """With the naive forecast, base-stock at level L orders ``C_lo + L * d_{t-1} - U``."""
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=6)
    policy = BaseStock(env, level=1.0, forecaster="naive")
    cfg = env.unwrapped.config
    obs, info = env.reset(seed=2)
    policy.reset()
    last = np.asarray(cfg.demand_mean, dtype=float)
    for _ in range(6):
        view = policy.reader.read(obs)
        orders_from_rule = np.maximum(
            cfg.band_lo + last - policy.usable(view, last), 0.0
        )  # the rule with D = the last demand (the nominal mean at slot 0)
        policy.act(obs)
        assert np.allclose(policy._orders, orders_from_rule, atol=1e-4)  # float32 observation
        obs, _, term, trunc, info = env.step(policy.act(obs))
        last = info["demand"]
        if term or trunc:
            break


def test_tuned_forecast_base_stock_keeps_its_forecaster():
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=5)
    rule, table = tune_base_stock(
        env, levels=(1.0, 2.0), n_episodes=1, progress=False, extend=False,
        forecaster="moving_average",
    )  # fmt: skip
    assert rule.forecaster is not None and len(table) == 2


def test_true_future_reads_the_episode_trace_and_mpc_uses_it_from_slot_0():
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=6)
    env.reset(seed=4)
    demand = env.unwrapped.exogenous.demand
    future = TrueFuture(env)
    assert np.array_equal(future.predict(np.zeros((3, 2)), 3), demand[2:5].T)
    assert np.array_equal(future.predict(np.zeros((3, 5)), 3)[:, -1], demand[5])  # held past T
    mpc = MPC(env, window=3, forecaster=future)
    mpc.reset()
    assert np.array_equal(mpc._forecast(3), demand[0:3])


def test_the_stochastic_program_on_pharma_test_weeks_samples_the_train_weeks():
    env = gym.make("DrugRefill-v0", scenario="pharma", split="test")
    saa = StochasticMPC(env, n_scenarios=2, window=3)
    assert saa._sampled.demand.split == "train"
    assert saa.config.demand.split == "test"  # it still plays the test weeks
    paper = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    assert StochasticMPC(paper, n_scenarios=2)._sampled is paper.unwrapped.config


@pytest.fixture(scope="module")
def forecast_agent(tmp_path_factory):
    """A tiny PPO agent trained with a fitted Holt forecast in its observation."""
    from druginv_agents import ppo

    folder = tmp_path_factory.mktemp("agent")
    holt = fit_forecaster("exponential_smoothing", "seasonal", n_drugs=3, horizon=8, episodes=2)
    holt_path = holt.save(folder / "holt.json")
    kwargs = {
        "scenario": "seasonal",
        "n_drugs": 3,
        "horizon": 8,
        "forecaster": str(holt_path),
        "forecast_horizon": 2,
    }
    cfg = ppo.PPOConfig(env_kwargs=kwargs, total_steps=4 * 8 * 2, num_envs=4, eval_episodes=1)
    ppo.train(cfg, logdir=folder / "run", progress=False)
    return folder


def test_a_forecast_agent_saves_its_forecaster_and_plays_with_it(forecast_agent):
    import druginv_agents

    agent = druginv_agents.load(forecast_agent / "run" / "best.pt")
    names = agent.meta["drug_feature_names"]
    assert names[-2:] == ["forecast_1", "forecast_2"]
    assert agent.observation_kwargs["forecast_horizon"] == 2
    env = agent.make_env()
    assert env.observation_space.shape[0] == 3 * len(names) + agent.meta["n_global_features"]
    assert np.isfinite(druginv_gym.evaluate(env, agent, 1, 0).total_cost).all()
    # the registry plays it with its forecaster on any scenario size
    spec = BenchmarkSpec(
        scenario="seasonal", n_drugs=5, horizon=8, episodes=1,
        policies=(f"agent:{forecast_agent / 'run' / 'best.pt'}",),
    )  # fmt: skip
    from druginv_gym.benchmark import make_policy

    env5, policy, _ = make_policy(spec.policies[0], spec, {})
    assert np.isfinite(druginv_gym.evaluate(env5, policy, 1, 0).total_cost).all()


def test_a_forecaster_named_relative_to_the_checkpoint_loads_from_anywhere(
    forecast_agent, tmp_path, monkeypatch
):
    """How shipped agents carry theirs: ``forecasters/<file>`` next to the agent."""
    import druginv_agents
    from druginv_agents.checkpoint import load_checkpoint, save_checkpoint

    data = load_checkpoint(forecast_agent / "run" / "best.pt")
    (tmp_path / "forecasters").mkdir()
    (tmp_path / "forecasters" / "holt.json").write_bytes(
        (forecast_agent / "holt.json").read_bytes()
    )
    data["meta"]["env_kwargs"]["forecaster"] = "forecasters/holt.json"
    save_checkpoint(tmp_path / "agent.pt", {"model": data["model"], "meta": data["meta"]})
    monkeypatch.chdir(forecast_agent)  # elsewhere: the path is the checkpoint's, not the cwd's
    agent = druginv_agents.load(tmp_path / "agent.pt")
    assert agent.observation_kwargs["forecaster"] == str(tmp_path / "forecasters" / "holt.json")
    assert np.isfinite(druginv_gym.evaluate(agent.make_env(), agent, 1, 0).total_cost).all()


def test_a_forecast_agent_never_reads_the_future(forecast_agent):
    """Perturb the trace after slot t: the agent's actions up to t are unchanged (the
    forecaster sees only the demand played; the wrapper refreshes once per slot)."""
    import druginv_agents

    agent = druginv_agents.load(forecast_agent / "run" / "best.pt")
    plain, altered = _actions_with_demand_tripled_from_slot_4(agent, agent.make_env(), 5)
    assert np.array_equal(plain, altered)


def _actions_with_demand_tripled_from_slot_4(agent, env, steps):
    """``agent``'s first ``steps`` actions on episode seed 3 of ``env``, and the same with
    the demand of slots 4 on tripled in the trace."""
    env.reset(seed=3)
    trace = env.unwrapped.exogenous.as_dict()
    altered = {k: v.copy() for k, v in trace.items()}
    altered["demand"][4:] *= 3
    runs = []
    for tr in (trace, altered):
        obs, _ = env.reset(options={"exogenous": tr})
        acts = []
        for _ in range(steps):
            acts.append(agent.act(obs))
            obs, *_ = env.step(acts[-1])
        runs.append(np.array(acts))
    return runs


def test_a_shipped_forecast_dqn_agent_never_reads_the_future():
    """The same for DQN on the sequential id, drug by drug: a shipped agent with a fitted
    forecaster, the trace perturbed from slot 4 on, every decision of slots 0-4 unchanged
    (and slot 5's changed)."""
    import druginv_agents

    agent = druginv_agents.load_pretrained("dqn-pharma-8-exponential_smoothing")
    env = agent.make_env(scenario="pharma", n_drugs=8, split="test")
    assert env.spec.id == "DrugRefillSequential-v0"
    n = env.unwrapped.config.n_drugs
    plain, altered = _actions_with_demand_tripled_from_slot_4(agent, env, 6 * n)  # a drug a step
    assert np.array_equal(plain[: 5 * n], altered[: 5 * n])
    # once slot 4's demand is played, the agent sees it: the check could fail
    assert not np.array_equal(plain[5 * n :], altered[5 * n :])


def test_train_cli_takes_a_forecaster(tmp_path, capsys):
    from druginv_gym.cli import main

    assert main(["train", "ppo", "--forecast-horizon", "2", "--logdir", str(tmp_path)]) == 2
    assert "--forecast-horizon needs --forecaster" in capsys.readouterr().err
    assert main(["train", "ppo", "--forecaster", "lstm", "--logdir", str(tmp_path)]) == 2
    assert "--forecaster: forecaster = 'lstm' must be trained first" in capsys.readouterr().err
