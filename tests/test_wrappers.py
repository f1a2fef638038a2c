"""ForecastObservation: forecasts from the past only, spaces and names, vector twin."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import druginv_gym
from druginv_gym.baselines import MaxMin
from druginv_gym.forecasting import MovingAverage, SeasonalNaive
from druginv_gym.wrappers import ForecastObservation, ForecastObservationVector

from .conftest import ENV_IDS

SMALL = {"n_drugs": 3, "horizon": 8}


def forecast_block(env, obs):
    names = env.get_wrapper_attr("drug_feature_names")
    n = env.unwrapped.config.n_drugs
    per = obs[: n * len(names)].reshape(n, len(names))
    cols = [k for k, f in enumerate(names) if f.startswith("forecast_")]
    return per[:, cols]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_and_layout(env_id):
    env = ForecastObservation(gym.make(env_id, **SMALL).unwrapped, MovingAverage(3), horizon=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # check_env always notes that a wrapped env is not the raw one; nothing else may appear.
    other = [str(w.message) for w in caught if "different from the unwrapped" not in str(w.message)]
    assert other == []
    base = env.unwrapped
    assert env.observation_space.shape[0] == base.observation_space.shape[0] + 3 * 2
    assert env.drug_feature_names[-2:] == ["forecast_1", "forecast_2"]
    assert env.feature_names[len(env.drug_feature_names) - 1] == "drug000/forecast_2"
    assert len(env.feature_names) == env.observation_space.shape[0]


def test_forecast_values_and_prior_padding():
    env = ForecastObservation(gym.make("DrugRefill-v0", **SMALL), MovingAverage(2), horizon=3)
    obs, _ = env.reset(seed=0)
    scale = env.unwrapped._core.scales.units
    mean = env.unwrapped.config.demand_mean
    assert np.allclose(forecast_block(env, obs) * scale, mean[:, None], rtol=1e-6)
    demands = []
    for _ in range(3):
        obs, *_, info = env.step(env.action_space.sample())
        demands.append(info["demand"])
    want = np.mean(demands[-2:], axis=0)
    assert np.allclose(forecast_block(env, obs) * scale, want[:, None], rtol=1e-6)
    assert np.array_equal(env.demand_history, np.array(demands))
    # the base features are untouched
    base_names = env.unwrapped.feature_names
    inner = env.unwrapped._core.observe()[0]
    assert np.allclose([obs[env.feature_names.index(n)] for n in base_names], inner)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_forecasts_never_read_the_future(env_id):
    """Perturbing the trace after slot t leaves every observation up to slot t unchanged."""
    env = gym.make(env_id, **SMALL, forecaster=SeasonalNaive(2), forecast_horizon=3)
    env.reset(seed=1)
    trace = env.unwrapped.exogenous.as_dict()
    altered = {k: v.copy() for k, v in trace.items()}
    altered["demand"][4:] = altered["demand"][4:] * 5 + 7
    observations = []
    for tr in (trace, altered):
        obs, _ = env.reset(options={"exogenous": tr})
        env.action_space.seed(0)
        seen = [obs]
        while env.unwrapped.t < 4:  # up to the decision of slot 4 (demand 4 not yet seen)
            obs, *_ = env.step(env.action_space.sample())
            seen.append(obs)
        observations.append(np.array(seen))
    assert np.array_equal(observations[0], observations[1])


def test_sequential_forecast_is_constant_within_a_slot():
    env = gym.make("DrugRefillSequential-v0", **SMALL, forecaster="moving_average")
    obs, _ = env.reset(seed=0)
    first = forecast_block(env, obs)
    for _ in range(2):  # two of three drugs: still slot 0
        obs, *_ = env.step(0)
        assert np.array_equal(forecast_block(env, obs), first)
    obs, *_ = env.step(0)  # slot played
    assert not np.array_equal(forecast_block(env, obs), first)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_equals_single_at_one_env(env_id):
    kw = dict(SMALL, forecaster=MovingAverage(3), forecast_horizon=2)
    single = gym.make(env_id, **kw)
    venv = gym.make_vec(env_id, num_envs=1, **kw)
    assert isinstance(venv, ForecastObservationVector)
    obs, _ = single.reset(seed=2)
    vobs, _ = venv.reset(seed=2)
    assert np.array_equal(obs, vobs[0])
    single.action_space.seed(3)
    for _ in range(2 * single.unwrapped._core.steps_per_episode + 1):
        a = single.action_space.sample()
        obs, r, term, trunc, _ = single.step(a)
        vobs, vr, *_ = venv.step(np.asarray(a)[None])
        assert np.array_equal(obs, vobs[0]) and r == vr[0]
        if term:
            obs, _ = single.reset()
            vobs, *_ = venv.step(np.asarray(a)[None])
            assert np.array_equal(obs, vobs[0])


def test_make_keyword_and_baselines_on_wrapped_env():
    env = gym.make("DrugRefill-v0", **SMALL, forecaster="moving_average", forecast_horizon=3)
    assert isinstance(env.env.env, ForecastObservation) or any(
        isinstance(w, ForecastObservation) for w in _chain(env)
    )
    df = druginv_gym.evaluate(env, MaxMin(env), n_episodes=2, seed=0)
    plain = gym.make("DrugRefill-v0", **SMALL)
    ref = druginv_gym.evaluate(plain, MaxMin(plain), n_episodes=2, seed=0)
    assert np.allclose(df.total_cost, ref.total_cost)  # the rule ignores the extra features


def _chain(env):
    while hasattr(env, "env"):
        yield env
        env = env.env


def test_bad_forecaster_arguments():
    with pytest.raises(ValueError, match="must be trained first"):
        gym.make("DrugRefill-v0", **SMALL, forecaster="lstm")
    with pytest.raises(ValueError, match="horizon = 0"):
        gym.make("DrugRefill-v0", **SMALL, forecaster="naive", forecast_horizon=0)
    with pytest.raises(ValueError, match="not a DR2O env"):
        ForecastObservation(gym.make("CartPole-v1"), "naive")
