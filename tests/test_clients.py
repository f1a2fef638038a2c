"""What RL clients rely on: Gymnasium's conventions, one info schema, the vector API, SB3."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import TimeAwareObservation

import druginv_gym

from .conftest import ENV_IDS
from .helpers import deterministic_config

SMALL = {"n_drugs": 3, "horizon": 4}


def schema(info):
    """Keys, types, dtypes and shapes of an info dict, nested dicts included."""
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = schema(value)
        else:
            out[key] = (type(value).__name__, getattr(value, "dtype", None), np.shape(value))
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_unknown_keyword_arguments_raise_type_error(env_id):
    """TorchRL and SB3 probe keyword arguments and catch TypeError, as Python raises it."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make(env_id, frameskip=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make_vec(env_id, num_envs=2, frameskip=4)
    with pytest.raises(ValueError, match="horizon"):  # a bad value stays a ValueError
        gym.make(env_id, horizon=0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_one_info_schema_at_reset_and_every_step(env_id):
    """Minari's record_infos and TorchRL's info readers need the same keys and types at reset
    and at every step (the sequential id's steps within a slot included)."""
    env = gym.make(env_id, **SMALL)
    _, first = env.reset(seed=0)
    want = schema(first)
    assert first["t"] == 0 and np.allclose(first["stock"], env.unwrapped.config.initial_stock)
    assert first["costs"]["total"] == 0.0 and not first["accepted"].any()
    done = False
    while not done:
        _, _, term, trunc, info = env.step(env.action_space.sample())
        assert schema(info) == want
        done = term or trunc
    venv = gym.make_vec(env_id, num_envs=2, **SMALL)
    _, first = venv.reset(seed=0)
    want = schema(first)
    for _ in range(env.unwrapped.episode_steps + 1):  # through the autoreset step
        *_, info = venv.step(venv.action_space.sample())
        assert schema(info) == want


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_frames_and_gymnasium_render_mode_handling(env_id):
    env = gym.make(env_id, render_mode="rgb_array", **SMALL)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] >= 200 and len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3
    # gym.make's own handling: a list of frames, and a warning for an unknown mode
    frames = gym.make(env_id, render_mode="rgb_array_list", **SMALL)
    frames.reset(seed=0)
    frames.step(frames.action_space.sample())
    assert isinstance(frames.render(), list)
    with pytest.warns(UserWarning, match="render_mode='bogus'"):
        gym.make(env_id, render_mode="bogus", **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bare = gym.make(env_id, render_mode="bogus", disable_env_checker=True, **SMALL)
        bare.reset(seed=0)
        assert bare.render() is None
    assert any("draws nothing" in str(w.message) for w in caught)


def test_rgb_array_colours_show_a_drug_below_its_lower_bound():
    # one drug, band [2, 6], stock 4, demand 3 a slot
    env = gym.make("DrugRefill-v0", render_mode="rgb_array", config=deterministic_config())
    env.reset(seed=0)
    red = (214, 39, 40)
    before = (env.render() == red).all(axis=-1).sum()
    env.step(np.zeros(1, dtype=np.float32))  # order nothing: 4 - 3 = 1 < 2
    after = (env.render() == red).all(axis=-1).sum()
    assert before == 0 and after > 0


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_time_aware_observation_finds_the_episode_length(env_id):
    env = TimeAwareObservation(gym.make(env_id, **SMALL))
    steps = env.unwrapped.episode_steps
    assert env.spec.max_episode_steps == steps
    assert steps == 4 * (3 if env_id == "DrugRefillSequential-v0" else 1)
    obs, _ = env.reset(seed=0)
    assert obs[-1] == 0
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
    assert obs[-1] == steps and term and not trunc
    # gym.make(spec) adds a TimeLimit at the episode's own end: the episode is unchanged
    again = gym.make(env.unwrapped.spec)
    again.reset(seed=0)
    for k in range(steps):
        *_, term, trunc, _ = again.step(again.action_space.sample())
        assert term == (k == steps - 1)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_list_seeds_replay_single_envs_through_autoresets(env_id):
    """reset(seed=[s0, s1]) gives sub-env b the episodes of a single env reset with s_b,
    the autoreset's next episodes included (as SyncVectorEnv of single envs)."""
    venv = gym.make_vec(env_id, num_envs=2, **SMALL)
    singles = [gym.make(env_id, **SMALL) for _ in range(2)]
    obs, _ = venv.reset(seed=[11, 12])
    expect = [e.reset(seed=s)[0] for e, s in zip(singles, (11, 12), strict=True)]
    assert np.array_equal(obs, np.stack(expect))
    steps = singles[0].unwrapped.episode_steps
    for _episode in range(2):
        for _ in range(steps):
            act = np.stack([singles[0].action_space.sample() for _ in range(2)])
            obs, reward, *_ = venv.step(act)
            got = [e.step(a) for e, a in zip(singles, act, strict=True)]
            assert np.array_equal(obs, np.stack([g[0] for g in got]))
            assert np.allclose(reward, [g[1] for g in got], rtol=0, atol=1e-12)
        obs, *_ = venv.step(np.stack([singles[0].action_space.sample()] * 2))  # autoreset
        assert np.array_equal(obs, np.stack([e.reset()[0] for e in singles]))
    # an int seed returns to the one shared generator: the num_envs=1 contract
    one = gym.make_vec(env_id, num_envs=1, **SMALL)
    single = gym.make(env_id, **SMALL)
    one.reset(seed=[5])
    assert np.array_equal(one.reset(seed=3)[0][0], single.reset(seed=3)[0])
    with pytest.raises(ValueError, match="3 seeds for 2 sub-envs"):
        venv.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="-1 is not an integer >= 0 or None"):
        venv.reset(seed=[1, -1])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_step_autoreset_is_next_step_without_the_reset_step(env_id):
    nxt = gym.make_vec(env_id, num_envs=2, **SMALL)
    same = gym.make_vec(env_id, num_envs=2, autoreset_mode="same_step", **SMALL)
    assert nxt.autoreset_mode is AutoresetMode.NEXT_STEP
    assert same.autoreset_mode is AutoresetMode.SAME_STEP
    assert same.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    a, _ = nxt.reset(seed=7)
    b, _ = same.reset(seed=7)
    steps = nxt.unwrapped.config.horizon * (3 if "Sequential" in env_id else 1)
    for _episode in range(2):
        for k in range(steps):
            act = np.stack([nxt.single_action_space.sample() for _ in range(2)])
            a, ra, ta, _, ia = nxt.step(act)
            b, rb, tb, _, ib = same.step(act)
            assert np.allclose(ra, rb) and np.array_equal(ta, tb)
            if k < steps - 1:
                assert np.array_equal(a, b) and "final_obs" not in ib
        assert ta.all() and ib["_final_obs"].all() and ib["_final_info"].all()
        assert np.array_equal(np.stack(ib["final_obs"]), a)
        assert np.allclose(ib["final_info"]["costs"]["total"], ia["costs"]["total"])
        assert ib["final_info"]["_costs"].all() and ib["t"].tolist() == [0, 0]
        a, *_ = nxt.step(act)  # NEXT_STEP's reset step
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="autoreset_mode = 'Disabled'"):
        gym.make_vec(env_id, num_envs=2, autoreset_mode="Disabled", **SMALL)


def test_vector_get_attr_set_attr_and_call():
    venv = gym.make_vec("DrugRefill-v0", num_envs=3, render_mode="ansi", **SMALL)
    venv.reset(seed=0)
    configs = venv.get_attr("config")
    assert len(configs) == 3 and all(c is venv.unwrapped.config for c in configs)
    traces = venv.get_attr("exogenous")
    assert len(traces) == 3 and not np.array_equal(traces[0].demand, traces[1].demand)
    frames = venv.call("render")
    assert len(frames) == 3 and "slot 0/4" in frames[0]
    venv.set_attr("max_episode_steps", 2)
    venv.set_attr("max_episode_steps", [2, 2, 2])
    assert venv.max_episode_steps == 2
    with pytest.raises(ValueError, match="share their attributes"):
        venv.set_attr("max_episode_steps", [1, 2, 3])
    with pytest.raises(ValueError, match="2 values for 3 sub-envs"):
        venv.set_attr("max_episode_steps", [1, 2])


def test_sb3_make_vec_env_on_the_plain_id():
    """SB3's make_vec_env passes render_mode='rgb_array' (falling back only on TypeError)."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("DrugRefill-v0", n_envs=2, env_kwargs=SMALL, seed=0)
    obs = venv.reset()
    assert obs.shape == (2, venv.observation_space.shape[0])
    obs, reward, done, infos = venv.step(np.stack([venv.action_space.sample()] * 2))
    assert reward.shape == (2,) and len(infos) == 2 and "costs" in infos[0]
    frames = venv.get_images()
    assert frames[0].dtype == np.uint8 and frames[0].ndim == 3


class OldRLlibAlgorithm:
    """What RLlib's old API stack gives: compute_single_action(obs, explore=...)."""

    def __init__(self, value: float) -> None:
        self.value, self.calls = value, []

    def compute_single_action(self, obs, explore=True):
        self.calls.append(explore)
        return np.full(3, self.value, dtype=np.float32)


class NewRLlibAlgorithm(OldRLlibAlgorithm):
    """The shape of an RLlib algorithm on the new API stack: get_module() and a config that
    says so (the deprecated compute_single_action is still there)."""

    class Config:
        enable_rl_module_and_learner = True
        normalize_actions, clip_actions = True, False

    def __init__(self) -> None:
        super().__init__(0.5)
        self.config = self.Config()
        self.module = object()

    def get_module(self):
        return self.module


def test_evaluate_and_compare_score_other_libraries_policies():
    from druginv_gym.adapters import CallablePolicy, ModelPolicy, RLModulePolicy, as_policy
    from druginv_gym.baselines import MaxMin

    env = gym.make("DrugRefill-v0", **SMALL)
    half = np.full(3, 0.5, dtype=np.float32)
    by_fn = druginv_gym.evaluate(env, lambda obs: half, 2, 0)
    by_rllib = druginv_gym.evaluate(env, algo := OldRLlibAlgorithm(0.5), 2, 0)
    assert np.array_equal(by_fn.total_cost, by_rllib.total_cost)
    assert set(algo.calls) == {False}  # greedy
    by_rule = druginv_gym.evaluate(env, MaxMin(env), 2, 0)
    assert not np.array_equal(by_fn.total_cost, by_rule.total_cost)
    summary, _ = druginv_gym.compare(
        env, {"half": CallablePolicy(lambda obs: half), "rllib": OldRLlibAlgorithm(0.5)}, 2
    )
    assert summary.loc["half", "total_cost"] == summary.loc["rllib", "total_cost"]
    policy = MaxMin(env)
    assert as_policy(policy) is policy
    assert isinstance(as_policy(OldRLlibAlgorithm(0.1)), ModelPolicy)
    # an algorithm of RLlib's new API stack goes through its module (tests/test_rllib.py runs
    # a real one), even though it still has the old stack's compute_single_action
    new_stack = NewRLlibAlgorithm()
    wrapped = as_policy(new_stack)
    assert isinstance(wrapped, RLModulePolicy) and wrapped.module is new_stack.module
    assert wrapped.normalize_actions and not wrapped.clip_actions
    with pytest.raises(ValueError, match="neither an RLlib algorithm of the new API stack"):
        RLModulePolicy(OldRLlibAlgorithm(0.1))
    with pytest.raises(ValueError, match="is none of"):
        druginv_gym.evaluate(env, 42, 1, 0)


def test_sb3_models_score_like_their_own_predict_and_through_the_benchmark(tmp_path):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from druginv_gym.benchmark import BenchmarkSpec, run_benchmark

    env = gym.make("DrugRefill-v0", **SMALL)
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=8, seed=0, device="cpu")
    ours = druginv_gym.evaluate(env, model, 1, 4)
    obs, _ = env.reset(seed=4)
    total, done = 0.0, False
    while not done:  # SB3's own loop, greedy
        obs, _, term, trunc, info = env.step(model.predict(obs, deterministic=True)[0])
        total += info["costs"]["total"]
        done = term or trunc
    assert ours.total_cost.iloc[0] == pytest.approx(total, rel=1e-12)
    path = tmp_path / "model.zip"
    model.save(path)
    name = f"sb3:ppo:{path}"
    spec = BenchmarkSpec(**SMALL, episodes=1, seed=4, policies=(name, "max-min"))
    result = run_benchmark(spec, tmp_path / "bench", progress=False, plots=False)
    row = result.results.set_index("policy").loc[name]
    assert row.total_cost == pytest.approx(total, rel=1e-12)
    bad = BenchmarkSpec(**SMALL, episodes=1, policies=("sb3:nope:x.zip",))
    with pytest.raises(ValueError, match="the algorithm one of"):
        run_benchmark(bad, tmp_path / "bad", progress=False, plots=False)
    missing = BenchmarkSpec(**SMALL, episodes=1, policies=(f"sb3:ppo:{tmp_path / 'no.zip'}",))
    with pytest.raises(ValueError, match="no such file"):
        run_benchmark(missing, tmp_path / "missing", progress=False, plots=False)


def test_sb3_vec_env_over_the_native_batch_matches_sb3s_own_vec_env():
    """The native batch through SB3's VecEnv API gives what SB3's DummyVecEnv of single envs
    gives with the same seeds: observations, rewards, dones and terminal observations, across
    an episode's end; and SB3's PPO trains on it."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from druginv_gym.adapters import sb3_vec_env

    ours = sb3_vec_env("DrugRefill-v0", num_envs=2, **SMALL)
    theirs = make_vec_env("DrugRefill-v0", n_envs=2, env_kwargs=SMALL)
    ours.seed(5)
    theirs.seed(5)
    assert np.array_equal(ours.reset(), theirs.reset())
    rng = np.random.default_rng(0)
    for step in range(2 * SMALL["horizon"] + 1):
        act = rng.random((2, 3)).astype(np.float32)
        o1, r1, d1, i1 = ours.step(act)
        o2, r2, d2, i2 = theirs.step(act)
        assert np.array_equal(o1, o2) and np.allclose(r1, r2) and np.array_equal(d1, d2)
        if d1.any():
            assert step % SMALL["horizon"] == SMALL["horizon"] - 1
            for a, b in zip(i1, i2, strict=True):
                assert np.array_equal(a["terminal_observation"], b["terminal_observation"])
                assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"] is False
        assert np.allclose(i1[0]["stock"], i2[0]["stock"])
    assert ours.get_attr("config")[0].n_drugs == 3 and len(ours.env_method("render")) == 2
    model = PPO("MlpPolicy", ours, n_steps=8, batch_size=16, seed=0, device="cpu")
    model.learn(32)
    assert model.num_timesteps >= 32


def test_minari_datasets_of_any_policy_with_infos_reproducible_by_seed(tmp_path):
    minari = pytest.importorskip("minari")
    pytest.importorskip("jax")  # Minari's DataCollector needs it ("minari[create]")
    from druginv_gym.datasets import default_dataset_id, write_dataset

    kw = dict(n_drugs=3, horizon=4, episodes=2, seed=3, root=tmp_path)
    ds = write_dataset("hindsight-optimal", **kw)
    again = write_dataset("hindsight-optimal", dataset_id="druginv/again-v0", **kw)
    assert ds.spec.dataset_id == default_dataset_id("paper", "hindsight-optimal", 3)
    assert ds.total_episodes == 2 and ds.total_steps == 8
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    scores = druginv_gym.evaluate(env, druginv_gym.solvers.HindsightOracle(env), 2, 3)
    for k, (a, b) in enumerate(zip(ds.iterate_episodes(), again.iterate_episodes(), strict=True)):
        assert np.array_equal(a.observations, b.observations)
        assert np.array_equal(a.actions, b.actions)
        # the actions are stored as float32 (the Box's dtype), which the env then played
        assert a.rewards.sum() == pytest.approx(scores["return"].iloc[k], rel=1e-6)
        assert a.infos["costs"]["total"].shape == (5,)  # reset + 4 steps
        assert a.infos["costs"]["total"][1:].sum() == pytest.approx(
            scores.total_cost.iloc[k], rel=1e-6
        )
        replay = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
        replay.reset(seed=3 + k)
        rewards = [replay.step(act)[1] for act in a.actions]
        assert np.allclose(rewards, a.rewards, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="already exists"):
        write_dataset("hindsight-optimal", **kw)
    seq = write_dataset("max-min", scenario="paper", **{**kw, "episodes": 1})
    assert seq.total_episodes == 1
    import os

    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path)
    try:
        loaded = minari.load_dataset(ds.spec.dataset_id)
    finally:
        del os.environ["MINARI_DATASETS_PATH"]
    assert loaded.total_episodes == 2


def test_order_up_to_action_orders_the_gap_to_its_level():
    from druginv_gym.wrappers import OrderUpToAction

    # one drug, demand 3 a slot, stock 4, refill range [0, 10]
    env = OrderUpToAction(gym.make("DrugRefill-v0", config=deterministic_config()), max_cover=4)
    assert env.action_space.low.tolist() == [-1.0] and env.action_space.high.tolist() == [1.0]
    env.reset(seed=0)
    assert env.levels(np.array([0.0])).tolist() == [6.0]  # the middle: two slots of demand
    *_, info = env.step(np.array([0.0], dtype=np.float32))  # level 6, stock 4: order 2
    assert info["ordered"][0] == pytest.approx(2.0, abs=1e-5)
    *_, info = env.step(np.array([-1.0], dtype=np.float32))  # level 0: order nothing
    assert info["ordered"][0] == 0.0
    *_, info = env.step(np.array([1.0], dtype=np.float32))  # level 12, capped by the range
    assert info["ordered"][0] == pytest.approx(10.0, abs=1e-5)
    with pytest.raises(ValueError, match="must be finite"):
        env.step(np.array([np.nan], dtype=np.float32))
    with pytest.raises(ValueError, match="needs the box id"):
        OrderUpToAction(gym.make("DrugRefillDiscrete-v0", **SMALL))
    with pytest.raises(ValueError, match="max_cover = 0"):
        OrderUpToAction(gym.make("DrugRefill-v0", **SMALL), max_cover=0)


def test_torchrl_gym_env_on_the_plain_id():
    """TorchRL's GymEnv probes keyword arguments (TypeError) and reads the spaces."""
    pytest.importorskip("torchrl")
    from torchrl.envs import GymEnv

    env = GymEnv("DrugRefill-v0", **SMALL)
    td = env.rollout(10)
    assert td["next", "reward"].shape == (4, 1)
    assert td["next", "done"].squeeze(-1).tolist() == [False, False, False, True]
    assert td["observation"].shape == (4, env.observation_spec["observation"].shape[-1])


def test_flat_info_keeps_every_value_under_flat_keys():
    from druginv_gym.wrappers import FlatInfo, FlatInfoVector, flatten_info

    env = FlatInfo(gym.make("DrugRefill-v0", **SMALL))
    _, first = env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    plain = gym.make("DrugRefill-v0", **SMALL)
    plain.reset(seed=0)
    env.reset(seed=0)
    act = env.action_space.sample()
    *_, flat = env.step(act)
    *_, nested = plain.step(act)
    assert flat["costs_total"] == nested["costs"]["total"] and "costs" not in flat
    assert schema(first) == schema(info) and not any(isinstance(v, dict) for v in flat.values())
    masked = {"costs": {"total": 1.0, "_total": True}, "_costs": True, "t": 2, "_t": True}
    assert flatten_info(masked) == {"costs_total": 1.0, "_costs_total": True, "t": 2, "_t": True}
    venv = FlatInfoVector(
        gym.make_vec("DrugRefill-v0", num_envs=2, autoreset_mode="same_step", **SMALL)
    )
    assert venv.autoreset_mode is AutoresetMode.SAME_STEP
    venv.reset(seed=0)
    for _ in range(4):
        *_, vinfo = venv.step(venv.action_space.sample())
    assert vinfo["final_info_costs_total"].shape == (2,) and vinfo["_final_info_costs_total"].all()


def test_flat_info_keyword_on_every_id():
    """``flat_info=True`` gives the same info as the FlatInfo wrappers, single and vector,
    over a forecast too; a bad value is named."""
    from druginv_gym.wrappers import FlatInfo, FlatInfoVector

    for env_id in ("DrugRefill-v0", "DrugRefillDiscrete-v0", "DrugRefillSequential-v0"):
        env = gym.make(env_id, flat_info=True, **SMALL)
        chain = [env]
        while hasattr(chain[-1], "env"):
            chain.append(chain[-1].env)
        assert any(isinstance(w, FlatInfo) for w in chain)
        _, first = env.reset(seed=0)
        *_, info = env.step(env.action_space.sample())
        assert "costs_total" in info and schema(first) == schema(info)
        assert not any(isinstance(v, dict) for v in info.values())
        venv = gym.make_vec(env_id, num_envs=2, flat_info=True, **SMALL)
        assert isinstance(venv, FlatInfoVector)
        venv.reset(seed=0)
        *_, vinfo = venv.step(venv.action_space.sample())
        assert vinfo["costs_total"].shape == (2,) and "costs" not in vinfo
    fore = gym.make("DrugRefill-v0", flat_info=True, forecaster="naive", **SMALL)
    obs, info = fore.reset(seed=0)
    assert obs.shape == fore.observation_space.shape and "costs_total" in info
    plain = gym.make("DrugRefill-v0", **SMALL)
    assert "costs" in plain.reset(seed=0)[1]  # the default stays nested
    with pytest.raises(ValueError, match=r"flat_info = 'yes' must be True or False"):
        gym.make("DrugRefill-v0", flat_info="yes")


def test_torchrl_gym_env_with_num_envs_and_flat_info():
    """TorchRL's ``GymEnv(..., num_envs=k)`` builds Gymnasium's AsyncVectorEnv of single envs
    itself, in worker processes that have not imported the package (the ``module:id`` form):
    with ``flat_info=True`` its info reader takes the infos (the nested ``costs`` stops it
    otherwise)."""
    pytest.importorskip("torchrl")
    from torchrl.envs import GymEnv

    env = GymEnv("druginv_gym:DrugRefill-v0", num_envs=2, flat_info=True, **SMALL)
    try:
        td = env.rollout(6, break_when_any_done=False)
        assert td.batch_size == (2, 6)
        costs = td["next", "costs_total"].reshape(2, 6)
        done = td["next", "done"].reshape(2, 6)
        assert done[:, 3].all() and done.sum() == 2  # horizon 4, then the next episode
        # TorchRL shows the next episode's reset info at a done step (t = 0, no cost); the
        # reward there is the last slot's
        assert (costs[~done] > 0).all() and (td["next", "t"].reshape(2, 6)[done] == 0).all()
        assert (td["next", "reward"].reshape(2, 6) < 0).all()
    finally:
        env.close()


def test_torchrl_policies_are_scored_by_evaluate_and_compare():
    """A TorchRL policy module (callable, so not to be taken for a factory) plays through
    ``as_policy``: a deterministic module gives what the same network as a function gives; a
    probabilistic actor plays its mode (the same costs twice) unless asked to sample."""
    pytest.importorskip("torchrl")
    import torch
    from tensordict.nn import NormalParamExtractor, TensorDictModule
    from torchrl.modules import ProbabilisticActor, TanhNormal

    from druginv_gym.adapters import CallablePolicy, TorchRLPolicy, as_policy

    env = gym.make("DrugRefill-v0", **SMALL)
    dim = env.observation_space.shape[0]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(dim, 3), torch.nn.Sigmoid())
    module = TensorDictModule(net, in_keys=["observation"], out_keys=["action"])
    assert isinstance(as_policy(module), TorchRLPolicy)

    def same(obs):
        with torch.no_grad():
            return net(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    # (a plain function is a factory env -> policy to compare: CallablePolicy says otherwise)
    summary, _ = druginv_gym.compare(env, {"torchrl": module, "function": CallablePolicy(same)}, 2)
    assert summary.loc["torchrl", "total_cost"] == summary.loc["function", "total_cost"]
    body = TensorDictModule(
        torch.nn.Sequential(torch.nn.Linear(dim, 6), NormalParamExtractor()),
        in_keys=["observation"],
        out_keys=["loc", "scale"],
    )
    actor = ProbabilisticActor(
        body,
        in_keys=["loc", "scale"],
        distribution_class=TanhNormal,
        distribution_kwargs={"low": 0.0, "high": 1.0},
    )
    first = druginv_gym.evaluate(env, actor, 2, 0)
    again = druginv_gym.evaluate(env, actor, 2, 0)
    assert np.array_equal(first.total_cost, again.total_cost)
    sampled = druginv_gym.evaluate(env, TorchRLPolicy(actor, deterministic=False), 2, 0)
    assert not np.array_equal(first.total_cost, sampled.total_cost)
    with pytest.raises(ValueError, match="obs_key = 'obs' is not one of the module's in_keys"):
        TorchRLPolicy(module, obs_key="obs")


def test_torchrl_over_the_native_vector_env_with_flat_infos():
    """TorchRL's GymWrapper over the native batch (SAME_STEP, flat infos), infos included."""
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper

    from druginv_gym.wrappers import FlatInfoVector

    venv = gym.make_vec("DrugRefill-v0", num_envs=2, autoreset_mode="same_step", **SMALL)
    env = GymWrapper(FlatInfoVector(venv))
    td = env.rollout(6, break_when_any_done=False)
    assert td.batch_size == (2, 6)
    assert (
        td["next", "done"].squeeze(-1).tolist() == [[False, False, False, True, False, False]] * 2
    )
    assert td["next", "costs_total"].shape == (2, 6)
