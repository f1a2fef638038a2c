"""The compiled (numba) and numpy backends of the dynamics give the same episodes."""

from __future__ import annotations

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import druginv_gym  # noqa: F401
from druginv_gym import dynamics as dyn
from druginv_gym.envs.drug_refill import DrugRefillVectorEnv
from druginv_gym.scenarios import make_scenario
from druginv_gym.supply import SupplyModel

from .helpers import missing
from .test_properties import episodes


@pytest.fixture
def numba_installed():
    """Skip without numba, except in CI: CI installs the `fast` extra with the test extras, so
    there a missing numba is a broken install and fails instead of skipping every comparison
    with the compiled backend. (A fixture taken through `usefixtures`, so that hypothesis's
    tests can take it without a function-scoped-fixture health check.)"""
    if dyn.numba_available():
        return
    missing(
        "CI installs the `fast` extra, but numba is not installed",
        'numba not installed (pip install "druginv-gym[fast]")',
    )


needs_numba = pytest.mark.usefixtures("numba_installed")


@pytest.fixture
def restore_backend():
    before = dyn.get_backend()
    yield
    dyn.set_backend(before)


def test_default_backend_is_numba_when_installed():
    # In a fresh process without DRUGINV_BACKEND: the compiled backend whenever numba is there
    # (CI installs the `fast` extra, so there it must be), numpy otherwise.
    code = "from druginv_gym import dynamics as d; print(d.get_backend(), d.numba_available())"
    env = {k: v for k, v in os.environ.items() if k != "DRUGINV_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    backend, available = out.stdout.split()
    assert available == str(dyn.numba_available())
    assert backend == ("numba" if available == "True" else "numpy")
    if os.environ.get("CI"):
        assert available == "True", "CI installs the `fast` extra, but numba is not installed"


def test_set_backend_names_a_bad_value(restore_backend):
    with pytest.raises(ValueError, match=r"backend = 'cuda' is not one of \['numpy', 'numba'\]"):
        dyn.set_backend("cuda")
    dyn.set_backend("numpy")
    assert dyn.get_backend() == "numpy"
    if not dyn.numba_available():
        with pytest.raises(ImportError, match=r'backend "numba" needs numba'):
            dyn.set_backend("numba")
        assert dyn.get_backend() == "numpy"


def test_environment_variable_chooses_the_backend():
    code = "from druginv_gym import dynamics; print(dynamics.get_backend())"
    env = dict(os.environ, DRUGINV_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "numpy"
    env["DRUGINV_BACKEND"] = "fortran"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "DRUGINV_BACKEND = 'fortran' is not one of" in out.stderr


def _play(backend, env_id, seed, steps, **kwargs):
    dyn.set_backend(backend)
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(env.action_space.sample())
        out += [obs, np.array([reward]), info["accepted"], info["stock"], info["expired"]]
        out.append(np.array([info["costs"][k] for k in sorted(info["costs"])]))
        out += [info[k] for k in dyn.SUPPLY_INFO if k in info]  # a supply model's arrays
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return out


@needs_numba
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("DrugRefill-v0", {}),
        ("DrugRefillDiscrete-v0", {"n_drugs": 30}),
        ("DrugRefillSequential-v0", {"n_drugs": 5, "horizon": 6}),
        ("DrugRefill-v0", {"scenario": "pharma", "n_drugs": 8, "horizon": 52}),
        ("DrugRefill-v0", {"scenario": "seasonal", "n_drugs": 12}),
        ("DrugRefill-v0", {"scenario": "shortage", "n_drugs": 12}),
        ("DrugRefillSequential-v0", {"scenario": "shortage", "n_drugs": 4, "horizon": 8}),
        ("DrugRefillDiscrete-v0", {"scenario": "pharma-shortage", "n_drugs": 8, "horizon": 52}),
    ],
)
def test_single_envs_agree_across_backends(restore_backend, env_id, kwargs):
    a = _play("numpy", env_id, 3, 70, **kwargs)
    b = _play("numba", env_id, 3, 70, **kwargs)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        _close(y, x)


@needs_numba
@pytest.mark.parametrize("info_level", ["full", "summary"])
@pytest.mark.parametrize("env_id", ["DrugRefill-v0", "DrugRefillDiscrete-v0"])
def test_single_env_lean_step_equals_the_batched_step(
    restore_backend, monkeypatch, env_id, info_level
):
    """The single box env's one-call step (``RefillCore.step_one``, and the discrete env's
    with the full info) is taken, and gives what the batched step shows for a batch of one
    (the compiled box step, or the discrete mode's decoding and slot), to the bit, over two
    episodes; writes into what it returned do not reach the next step."""
    from druginv_gym.envs.core import RefillCore

    dyn.set_backend("numba")
    calls = []
    lean = RefillCore._step_one_compiled

    def counted(core, frac):
        calls.append(1)
        return lean(core, frac)

    monkeypatch.setattr(RefillCore, "_step_one_compiled", counted)
    env = gym.make(env_id, n_drugs=7, horizon=6, info_level=info_level).unwrapped
    ref = gym.make(env_id, n_drugs=7, horizon=6, info_level=info_level).unwrapped
    env.reset(seed=4)
    ref.reset(seed=4)
    rng = np.random.default_rng(0)
    discrete = env_id == "DrugRefillDiscrete-v0"
    levels = env.config.n_levels
    for k in range(12):
        if discrete:  # every level, the ends included, and both integer kinds
            action = rng.integers(0, levels, 7).astype(np.uint8 if k % 2 else np.int64)
        else:
            action = rng.random(7).astype(np.float32)
        obs, reward, term, trunc, info = env.step(action)
        robs, rreward, rterm, rinfo = ref._core.step(action[None])
        rinfo = rinfo.single()
        assert np.array_equal(obs, robs[0]) and obs.shape == robs[0].shape
        assert type(reward) is float and reward == float(rreward[0])
        assert term is bool(rterm) and trunc is False
        assert list(info) == list(rinfo)
        for key, value in info.items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, rinfo[key]), key
                value += 1.0  # a caller's write
            else:
                assert value == rinfo[key] and type(value) is type(rinfo[key]), key
        obs += 1.0
        if term:
            env.reset(seed=5 + k)
            ref.reset(seed=5 + k)
    # the discrete mode's summary adds its totals in numpy, in another order: batched path
    taken = 0 if discrete and info_level == "summary" else 12
    assert len(calls) == taken
    # the batched path serves what the lean one does not take (a list; a float level) or
    # declines (a bad value, which it leaves for the batched path to name)
    obs, *_ = env.step([1] * 7)
    assert len(calls) == taken and obs.shape == env.observation_space.shape
    if discrete:
        obs, *_ = env.step(np.full(7, 2.0))
        assert len(calls) == taken and env.t == 2
        bad, match = (
            np.array([1, 1, levels, 1, 1, 1, 1]),
            rf"^action\[2\] = {levels} is outside the levels",
        )
        with pytest.raises(ValueError, match=match):
            env.step(bad)
        with pytest.raises(ValueError, match=r"^action\[0\] = -1 is outside the levels"):
            env.step(np.array([-1, 1, 1, 1, 1, 1, 1]))
        assert len(calls) == taken and env.t == 2
    else:
        with pytest.raises(ValueError, match=r"^action\[2\] = 1.5 is outside the Box"):
            env.step(np.array([0.5, 0.5, 1.5, 0.5, 0.5, 0.5, 0.5]))
        assert len(calls) == taken + 1 and env.t == 1


def _close(y, x):
    """Equal up to the rounding of sums over drugs: a clipping factor computed from a sum can
    move an order by one ulp, which a difference such as ``C_lo - v`` then magnifies."""
    if x.dtype == np.float32:
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(x).max())))


#: The per-drug info arrays the vector-env comparisons check (a supply model's come on top).
_VECTOR_KEYS = ("accepted", "served", "unmet", "expired", "stock", "drug_costs", "spend")


def _agree_on_vector_env(cfg, actions, reset, keys=_VECTOR_KEYS):
    """Play ``actions`` ((T, 2, N)) on a 2-env vector env of ``cfg`` on each backend, reset
    with ``reset`` (keyword arguments), and check the observations, rewards and the info
    arrays named in ``keys`` agree (:func:`_close`)."""
    before = dyn.get_backend()
    try:
        runs = []
        for backend in ("numpy", "numba"):
            dyn.set_backend(backend)
            env = DrugRefillVectorEnv(num_envs=2, config=cfg)
            obs, _ = env.reset(**reset)
            seen = [obs]
            for t in range(cfg.horizon):
                obs, reward, _, _, info = env.step(actions[t])
                seen += [obs, reward, *(info[k] for k in keys)]
            runs.append(seen)
    finally:
        dyn.set_backend(before)
    for x, y in zip(*runs, strict=True):
        _close(y, x)


@needs_numba
@settings(max_examples=60, deadline=None)
@given(case=episodes(substitution=False))  # the kernels do not model substitution
def test_vector_env_agrees_across_backends(case):
    cfg, traces, actions = case
    _agree_on_vector_env(cfg, actions, {"options": {"exogenous": traces}})


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lead=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    delay=st.floats(0.0, 0.5),
    fill=st.floats(0.0, 1.0),
    recall=st.floats(0.0, 0.4),
    alt=st.floats(0.0, 1.0),
    hard=st.booleans(),
    scale=st.floats(0.0, 1.0),
)
def test_supply_model_agrees_across_backends(seed, lead, delay, fill, recall, alt, hard, scale):
    model = SupplyModel(
        lead_time=lead, delay_prob=delay, max_delay=2, supplier=[0, 1, 0],
        mean_time_between=4.0, mean_duration=2.0, outage_fill=fill, announce=1,
        recall_rate=recall, alt_fill=alt, alt_markup=3.0,
    )  # fmt: skip
    cfg = make_scenario("paper", n_drugs=3, horizon=10, supply=model, hard_capacity=hard)
    actions = (scale * np.random.default_rng(seed).random((10, 2, 3))).astype(np.float32)
    _agree_on_vector_env(cfg, actions, {"seed": seed}, (*_VECTOR_KEYS, *dyn.SUPPLY_INFO))


@needs_numba
def test_bad_actions_raise_the_same_errors_on_both_backends(restore_backend):
    bad = [np.full(4, np.nan), np.full(4, 1.5), np.array([0.1, -0.2, 0.3, 0.4]), np.ones(3)]
    messages = {}
    for backend in ("numpy", "numba"):
        dyn.set_backend(backend)
        env = gym.make("DrugRefill-v0", n_drugs=4, disable_env_checker=True)
        env.reset(seed=0)
        for k, action in enumerate(bad):
            with pytest.raises(ValueError) as err:
                env.step(action.astype(np.float32))
            messages.setdefault(k, set()).add(str(err.value))
        assert env.unwrapped.t == 0  # refused actions leave the episode where it was
    assert all(len(m) == 1 for m in messages.values()), messages


@needs_numba
def test_bad_vector_actions_raise_the_same_errors_on_both_backends(restore_backend):
    bad = [
        [[0.1, 0.2], [0.1, 0.2, 0.3]],  # ragged
        np.array([[0.1, 2.0, 0.3], [0.1, 0.2, 0.3]]),
        np.array([[0.1, 0.2, 0.3], [0.1, np.inf, 0.3]], dtype=np.float32),
        np.ones((3, 3)),
    ]
    messages = {}
    for backend in ("numpy", "numba"):
        dyn.set_backend(backend)
        env = gym.make_vec("DrugRefill-v0", num_envs=2, n_drugs=3, horizon=4)
        env.reset(seed=0)
        for k, action in enumerate(bad):
            with pytest.raises(ValueError) as err:
                env.step(action)
            messages.setdefault(k, set()).add(str(err.value))
        assert env.unwrapped._core.t == 0
    assert all(len(m) == 1 for m in messages.values()), messages
    assert "could not be read as an array" in messages[0].pop()
    assert "action[0, 1] = 2.0 is outside the Box [0, 1]" in messages[1].pop()


def test_a_numba_that_cannot_be_imported_falls_back_to_numpy(restore_backend, monkeypatch):
    env = gym.make("DrugRefill-v0", n_drugs=6, horizon=4)
    env.reset(seed=1)
    expected = [env.step(np.full(6, 0.4, dtype=np.float32))[1] for _ in range(4)]
    dyn.set_backend("numpy")
    if dyn.numba_available():
        dyn.set_backend("numba")
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    monkeypatch.setattr(dyn, "_KERNELS", {})
    monkeypatch.setattr(dyn, "_BACKEND", "numba")
    with pytest.warns(RuntimeWarning, match="numba is installed but cannot be imported"):
        env.reset(seed=1)
        got = [env.step(np.full(6, 0.4, dtype=np.float32))[1] for _ in range(4)]
    assert dyn.get_backend() == "numpy"
    np.testing.assert_allclose(got, expected, rtol=1e-9)
