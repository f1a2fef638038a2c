"""Every registered id against the Gymnasium and Stable-Baselines3 checkers; the API contract."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import druginv_gym
from druginv_gym.envs import (
    DrugRefillDiscreteVectorEnv,
    DrugRefillSequentialVectorEnv,
    DrugRefillVectorEnv,
)

from .conftest import ENV_IDS
from .helpers import constant_trace, one_drug_config

SMALL = {"n_drugs": 4, "horizon": 5}
VECTOR_CLASSES = {
    "DrugRefill-v0": DrugRefillVectorEnv,
    "DrugRefillDiscrete-v0": DrugRefillDiscreteVectorEnv,
    "DrugRefillSequential-v0": DrugRefillSequentialVectorEnv,
}
INFO_ARRAYS = ("stock", "ordered", "accepted", "served", "unmet", "expired")
COST_KEYS = ("purchase", "storage", "penalty", "shortage", "total")


def rollout(env, seed, n_steps, action_seed=0):
    """Seeded rollout with seeded actions; returns every transition."""
    env.action_space.seed(action_seed)
    out = [env.reset(seed=seed)]
    for _ in range(n_steps):
        step = env.step(env.action_space.sample())
        out.append(step)
        if step[2] or step[3]:
            out.append(env.reset())
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env_no_warnings(env_id):
    env = gym.make(env_id, **SMALL).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_paper_size_check_env(env_id):
    check_env(gym.make(env_id).unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env, warn=True)
    # SB3 advises a symmetric [-1, 1] Box for its own algorithms; ours is [0, 1] by design
    # (a fraction of the refill range). Anything else is a real finding.
    unexpected = [str(w.message) for w in caught if "symmetric" not in str(w.message)]
    assert unexpected == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id):
    a = rollout(gym.make(env_id, **SMALL), seed=7, n_steps=40)
    b = rollout(gym.make(env_id, **SMALL), seed=7, n_steps=40)
    assert data_equivalence(a, b, exact=True)
    c = rollout(gym.make(env_id, **SMALL), seed=8, n_steps=40)
    assert not data_equivalence(a, c)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip_mid_episode(env_id):
    env = gym.make(env_id, **SMALL)
    env.reset(seed=3)
    env.action_space.seed(1)
    for _ in range(3):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    actions = [env.action_space.sample() for _ in range(6)]
    for a in actions:
        s1, s2 = env.step(a), clone.step(a)
        assert data_equivalence(s1, s2, exact=True)
        if s1[2]:
            break


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_returns_native_class(env_id):
    venv = gym.make_vec(env_id, num_envs=3, **SMALL)
    assert type(venv) is VECTOR_CLASSES[env_id]
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, *venv.single_observation_space.shape)
    assert venv.observation_space.contains(obs)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert info["stock"].shape == (3, 4)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_equals_single_at_one_env(env_id):
    """Two full episodes (so autoreset is crossed) give identical transitions."""
    single = gym.make(env_id, **SMALL)
    venv = gym.make_vec(env_id, num_envs=1, **SMALL)
    steps = 2 * single.unwrapped._core.steps_per_episode
    obs, info = single.reset(seed=11)
    vobs, vinfo = venv.reset(seed=11)
    assert np.array_equal(obs, vobs[0]) and np.array_equal(info["stock"], vinfo["stock"][0])
    single.action_space.seed(5)
    for _ in range(steps):
        action = single.action_space.sample()
        obs, reward, term, trunc, info = single.step(action)
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(np.asarray(action)[None])
        assert np.array_equal(obs, vobs[0])
        assert reward == vrew[0] and term == vterm[0] and trunc == vtrunc[0]
        for k in INFO_ARRAYS:
            assert np.array_equal(info[k], vinfo[k][0]), k
        for k in COST_KEYS:
            assert info["costs"][k] == vinfo["costs"][k][0]
        if term:
            obs, info = single.reset()
            vobs, vrew, vterm, _, vinfo = venv.step(np.asarray(action)[None])  # NEXT_STEP reset
            assert vrew[0] == 0.0 and not vterm[0]
            assert np.array_equal(obs, vobs[0])


def test_vector_envs_draw_independent_traces():
    venv = gym.make_vec("DrugRefill-v0", num_envs=3, **SMALL)
    venv.reset(seed=0)
    demand = [tr.demand for tr in venv.unwrapped.exogenous]
    assert not np.array_equal(demand[0], demand[1])


def test_vector_max_episode_steps_truncates_then_autoresets():
    venv = gym.make_vec("DrugRefill-v0", num_envs=2, max_episode_steps=3, **SMALL)
    venv.reset(seed=0)
    act = np.full((2, 4), 0.5, dtype=np.float32)
    for _ in range(2):
        _, _, term, trunc, _ = venv.step(act)
        assert not term.any() and not trunc.any()
    _, _, term, trunc, _ = venv.step(act)
    assert trunc.all() and not term.any()
    obs, rew, term, trunc, info = venv.step(act)
    assert (rew == 0).all() and info["t"].tolist() == [0, 0]


def test_registration_is_idempotent_and_module_prefix_works():
    before = {k: gym.registry[k] for k in druginv_gym.ENV_IDS}
    druginv_gym.register_envs()
    assert all(gym.registry[k] is before[k] for k in before)
    env = gym.make("druginv_gym:DrugRefill-v0", n_drugs=3, horizon=2)
    assert env.unwrapped.config.n_drugs == 3


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_types_and_info_contract(env_id):
    env = gym.make(env_id, **SMALL)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and info["stock"].shape == (4,)
    assert len(env.unwrapped.feature_names) == obs.shape[0]
    obs, reward, term, trunc, info = env.step(env.action_space.sample())
    assert type(reward) is float and type(term) is bool and type(trunc) is bool
    for k in INFO_ARRAYS:
        assert info[k].shape == (4,) and info[k].dtype == np.float64, k
    assert set(COST_KEYS) <= set(info["costs"])
    assert all(type(v) is float for v in info["costs"].values())


def test_episode_length_and_termination():
    env = gym.make("DrugRefill-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    i_time = env.unwrapped.feature_names.index("time_left")
    assert obs[i_time] == 1.0
    for t in range(5):
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        assert term == (t == 4) and not trunc
    assert obs[i_time] == 0.0
    with pytest.raises(RuntimeError, match="episode is over"):
        env.unwrapped.step(env.action_space.sample())


def test_sequential_decides_in_priority_order():
    env = gym.make("DrugRefillSequential-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    prio = u.config.priority
    n_f = len(u.drug_feature_names)
    cur = u.drug_feature_names.index("is_current")
    for k in range(4):
        assert obs[: 4 * n_f].reshape(4, n_f)[:, cur].argmax() == prio[k]
        obs, reward, term, _, info = env.step(u.config.n_levels - 1)
        assert info["drug"] == prio[k]
        assert info["slot_done"] == (k == 3)
        if k < 3:
            assert reward == 0.0 and info["accepted"].sum() == 0
            assert info["ordered"][prio[k]] == u.config.refill_hi[prio[k]]
    assert info["accepted"].sum() > 0 and reward < 0 and u.t == 1


def test_sequential_equals_box_on_same_levels():
    """Deciding every drug at level k one by one plays the same slot as the Box id at k/(L-1)."""
    box = gym.make("DrugRefill-v0", **SMALL)
    seq = gym.make("DrugRefillSequential-v0", **SMALL)
    box.reset(seed=4)
    seq.reset(seed=4)
    levels = np.array([3, 7, 0, 10])
    for _ in range(5):
        _, r_box, term, _, i_box = box.step((levels / 10).astype(np.float32))
        for drug in seq.unwrapped.config.priority:
            _, r_seq, _, _, i_seq = seq.step(int(levels[drug]))
        assert r_box == pytest.approx(r_seq, rel=1e-6)
        assert np.allclose(i_box["stock"], i_seq["stock"], rtol=1e-6)


def test_replay_exogenous_trace():
    env = gym.make("DrugRefill-v0", **SMALL)
    env.reset(seed=1)
    trace = env.unwrapped.exogenous
    first = rollout(env, seed=1, n_steps=5)
    env.reset(seed=999, options={"exogenous": trace})
    assert np.array_equal(env.unwrapped.exogenous.demand, trace.demand)
    env.action_space.seed(0)
    replay = [env.step(env.action_space.sample()) for _ in range(5)]
    assert data_equivalence(first[1:6], replay, exact=True)


def test_replay_a_dict_trace_on_a_hand_made_config():
    cfg = one_drug_config()
    env = gym.make("DrugRefill-v0", config=cfg)
    env.reset(options={"exogenous": constant_trace(cfg, [5.0])})
    _, reward, _, _, info = env.step(np.array([0.3], dtype=np.float32))
    assert info["accepted"][0] == pytest.approx(3.0) and info["served"][0] == 5.0
    assert reward == pytest.approx(-(30.0 + 2 * 0.01 * 2) / 100.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exogenous": {"demand": np.ones((5, 3))}}, "missing fields"),
        ({"exogenous": "trace"}, "must be an ExogenousTrace"),
        ({"seed_all": 1}, r"unknown reset options \['seed_all'\]"),
    ],
)
def test_bad_reset_options(options, message):
    env = gym.make("DrugRefill-v0", **SMALL)
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)


def test_replay_trace_of_wrong_size():
    other = gym.make("DrugRefill-v0", n_drugs=3, horizon=5)
    other.reset(seed=0)
    env = gym.make("DrugRefill-v0", **SMALL)
    with pytest.raises(ValueError, match=r"has shape \(5, 3\); this scenario needs .* \(5, 4\)"):
        env.reset(options={"exogenous": other.unwrapped.exogenous})


@pytest.mark.parametrize(
    ("env_id", "action", "message"),
    [
        ("DrugRefill-v0", [0.1, np.nan, 0.2, 0.3], r"action\[1\] = nan is not finite"),
        ("DrugRefill-v0", [0.1, 0.2, np.inf, 0.3], r"action\[2\] = inf is not finite"),
        ("DrugRefill-v0", [0.1, 0.2, 1.5, 0.3], r"action\[2\] = 1.5 is outside the Box \[0, 1\]"),
        ("DrugRefill-v0", [-0.1, 0.2, 0.5, 0.3], r"action\[0\] = -0.1 is outside"),
        ("DrugRefill-v0", [0.1, 0.2], r"action has shape \(2,\); expected \(4,\)"),
        ("DrugRefill-v0", ["a", "b", "c", "d"], r"dtype <U1"),
        ("DrugRefillDiscrete-v0", [0, 1, 11, 2], r"action\[2\] = 11 is outside the levels 0..10"),
        ("DrugRefillDiscrete-v0", [0, 1, -1, 2], r"action\[2\] = -1 is outside the levels"),
        ("DrugRefillDiscrete-v0", [0, 1.5, 2, 2], r"action\[1\] = 1.5 is not an integer level"),
        ("DrugRefillSequential-v0", 11, r"action = 11 is outside the levels 0..10"),
        ("DrugRefillSequential-v0", np.nan, r"action = nan is not finite"),
        ("DrugRefillSequential-v0", [1, 2], r"action has shape \(2,\); expected \(\)"),
    ],
)
def test_bad_actions_raise_value_error(env_id, action, message):
    env = gym.make(env_id, **SMALL).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(np.asarray(action))
    assert env.t == 0  # nothing happened


def test_tiny_float_overshoot_is_clipped_not_rejected():
    env = gym.make("DrugRefill-v0", **SMALL).unwrapped
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0 + 5e-7, 0, 0, 0]))
    assert info["ordered"][0] == env.config.refill_hi[0]


def test_vector_bad_action_names_env_and_drug():
    venv = gym.make_vec("DrugRefill-v0", num_envs=2, **SMALL)
    venv.reset(seed=0)
    act = np.zeros((2, 4))
    act[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"action\[1, 3\] = nan is not finite"):
        venv.step(act)


def test_step_before_reset():
    env = druginv_gym.DrugRefillEnv(**SMALL)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(4, dtype=np.float32))
    with pytest.raises(gym.error.ResetNeeded):
        env.exogenous


def test_ansi_render():
    env = gym.make("DrugRefill-v0", render_mode="ansi", **SMALL)
    env.reset(seed=0)
    text = env.render()
    assert "slot 0/5" in text and "drug000" in text
    with pytest.warns(UserWarning, match="render_mode = 'human' is not one of the supported"):
        druginv_gym.DrugRefillEnv(render_mode="human", **SMALL)


def test_config_kwarg_conflicts():
    cfg = one_drug_config()
    with pytest.raises(ValueError, match=r"n_drugs = 2 disagrees with config\.n_drugs = 1"):
        gym.make("DrugRefill-v0", config=cfg, n_drugs=2)
    env = gym.make("DrugRefillDiscrete-v0", config=cfg.to_dict(), n_levels=3)
    assert env.action_space.nvec.tolist() == [3]


def test_observation_features_are_normalised():
    env = gym.make("DrugRefill-v0")
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    names = u.feature_names
    stock = obs[names.index("drug000/stock")]
    assert stock == pytest.approx(u.config.initial_stock[0] / u._core.scales.units, rel=1e-6)
    assert obs[names.index("budget_left")] == 1.0
    assert 0 < obs[names.index("storage_used")] < 1


@pytest.mark.parametrize("scenario", ["paper", "shortage"])
def test_sequential_mid_slot_observation_is_the_whole_observation(scenario):
    """A decision that does not end the slot updates only a few features of the slot's
    observation; the result equals the observation computed whole, bit for bit, and a caller
    writing into a returned observation changes none of the next ones."""
    envs = gym.make_vec("DrugRefillSequential-v0", num_envs=3, n_drugs=6, scenario=scenario)
    obs, _ = envs.reset(seed=2)
    core = envs.unwrapped._core
    rng = np.random.default_rng(0)
    for _ in range(3 * 6):
        obs[:] = -1.0  # the caller's array: the env must not be reading it
        obs, *_ = envs.step(rng.integers(0, core.config.n_levels, 3))
        assert np.array_equal(obs, core.observe())
    envs.close()
