"""The exogenous-process registry: user processes serialise and play like the built-in ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest

import druginv_gym  # noqa: F401 - registers the env ids
from druginv_gym.config import ScenarioConfig
from druginv_gym.exogenous import (
    PROCESS_ROLES,
    PROCESSES,
    TRACE_FIELDS,
    DemandBase,
    PriceBase,
    PriceProcess,
    ReplayDemand,
    SeasonalDemand,
    StorageRateBase,
    StorageRateProcess,
    UniformDemand,
    process_from_dict,
    process_kind,
    register_process,
    sample_exogenous,
    unregister_process,
)
from druginv_gym.scenarios import make_scenario

SMALL = {"n_drugs": 3, "horizon": 4}


@dataclass(frozen=True)
class ConstantDemand(DemandBase):
    """The same demand every slot (units/slot)."""

    level: float = 7.0

    @property
    def mean(self) -> float:
        return self.level

    def sample(self, rng, batch, horizon, n_drugs):
        return np.full((batch, horizon, n_drugs), self.level)


@dataclass(frozen=True)
class FlatPrice(PriceBase):
    """Price at its level, no premium: draws nothing."""

    markup: float = 1.0

    def sample(self, rng, level, batch, horizon):
        base = np.broadcast_to(level * self.markup, (batch, horizon, level.shape[0])).copy()
        return base, np.zeros_like(base)


@pytest.fixture
def registered() -> Iterator[None]:
    """``test-constant`` and ``test-flat-price`` registered for one test."""
    register_process("test-constant", ConstantDemand)
    register_process("test-flat-price", FlatPrice)
    try:
        yield
    finally:
        unregister_process("test-constant")
        unregister_process("test-flat-price")


def test_builtin_kinds_and_read_only_view():
    assert dict(PROCESSES) == {
        "uniform": UniformDemand,
        "seasonal": SeasonalDemand,
        "replay": ReplayDemand,
        "price": PriceProcess,
        "storage": StorageRateProcess,
    }
    assert {c.role for c in PROCESSES.values()} == set(PROCESS_ROLES)
    assert sum(PROCESS_ROLES.values(), ()) == TRACE_FIELDS
    with pytest.raises(TypeError):
        PROCESSES["mine"] = ConstantDemand  # type: ignore[index]
    with pytest.raises(ValueError, match="'uniform' is built in"):
        register_process("uniform", ConstantDemand, overwrite=True)
    with pytest.raises(ValueError, match="'price' is built in and cannot be unregistered"):
        unregister_process("price")


def test_custom_demand_round_trips_and_plays(registered):
    cfg = make_scenario("paper", **SMALL, demand=ConstantDemand(7.0))
    data = cfg.to_dict()
    assert data["demand"] == {"kind": "test-constant", "level": 7.0}
    back = ScenarioConfig.from_json(json.dumps(data))
    assert back.demand == cfg.demand and back.to_dict() == data
    for config in (cfg, data):  # the instance, and its JSON form
        env = gym.make("DrugRefill-v0", config=config)
        env.reset(seed=0)
        for _ in range(cfg.horizon):
            *_, info = env.step(env.action_space.sample())
            np.testing.assert_array_equal(info["demand"], np.full(3, 7.0))
        env.close()
    vec = gym.make_vec("DrugRefill-v0", num_envs=2, config=data)
    vec.reset(seed=0)
    *_, info = vec.step(vec.action_space.sample())
    np.testing.assert_array_equal(info["demand"], np.full((2, 3), 7.0))
    vec.close()


def test_custom_price_process_round_trips_and_draws(registered):
    cfg = make_scenario("paper", **SMALL, price=FlatPrice(2.0))
    data = cfg.to_dict()
    assert data["price"] == {"kind": "test-flat-price", "markup": 2.0}
    back = ScenarioConfig.from_dict(data)
    assert back.price == FlatPrice(2.0)
    trace = sample_exogenous(back, np.random.default_rng(0), 2)
    np.testing.assert_array_equal(
        trace["base_price"], np.broadcast_to(2.0 * cfg.price_level, (2, 4, 3))
    )
    assert not trace["premium"].any()


def test_unregistered_process_has_the_documented_errors():
    cfg = make_scenario("paper", **SMALL, demand=ConstantDemand())
    with pytest.raises(
        ValueError,
        match=r"demand process ConstantDemand has no JSON form; "
        r"register it with druginv_gym\.exogenous\.register_process",
    ):
        cfg.to_dict()
    data = make_scenario("paper", **SMALL).to_dict()
    data["demand"] = {"kind": "test-constant", "level": 3.0}
    with pytest.raises(
        ValueError,
        match=r"unknown demand kind 'test-constant'; known: "
        r"\['replay', 'seasonal', 'uniform'\]; add one with .*register_process",
    ):
        ScenarioConfig.from_dict(data)
    data["demand"] = {"kind": "price"}
    with pytest.raises(ValueError, match=r"unknown demand kind 'price' \(a price process\)"):
        ScenarioConfig.from_dict(data)


def test_a_plain_sample_object_still_plays_as_demand():
    class Bare:  # the DemandProcess protocol only: plays, but has no JSON form
        def sample(self, rng, batch, horizon, n_drugs):
            return np.ones((batch, horizon, n_drugs), dtype=np.int64)

    cfg = make_scenario("paper", **SMALL, demand=Bare())
    trace = sample_exogenous(cfg, np.random.default_rng(0), 1)
    assert trace["demand"].dtype == np.float64 and (trace["demand"] == 1).all()
    with pytest.raises(ValueError, match="demand process Bare has no JSON form"):
        cfg.to_dict()


def test_older_files_and_the_written_format():
    """Price and storage entries without ``kind`` (every file so far) still load, and the
    built-in ones are still written so (older versions read them); the earlier draws are
    written without ``draws``, which is what files without it load as."""
    cfg = make_scenario("seasonal", **SMALL)
    data = cfg.to_dict()
    assert data["price"] == {
        "volatility": 0.1,
        "premium_prob": 1.0,
        "premium_low": 0.2,
        "premium_high": 0.5,
        "draws": "compact",
    }
    assert data["storage"] == {"low": 2.0, "high": 5.0, "draws": "compact"}
    assert data["demand"]["kind"] == "seasonal"
    band = make_scenario("paper-band", **SMALL).to_dict()
    assert band["price"] == {
        "volatility": 0.1,
        "premium_prob": 0.1,
        "premium_low": 0.2,
        "premium_high": 0.5,
    }
    assert band["storage"] == {"low": 2.0, "high": 5.0}
    assert band["demand"] == {"kind": "uniform", "low": 5.0, "high": 20.0, "integer": True}
    assert process_from_dict(band["price"], "price").draws == "legacy"
    assert ScenarioConfig.from_dict(band).price == make_scenario("paper-band", **SMALL).price
    older = process_from_dict({"low": 1.0, "high": 3.0}, "storage")
    assert older == StorageRateProcess(1.0, 3.0, draws="legacy")
    older = process_from_dict({"kind": "price", "volatility": 0.2}, "price")
    assert older == PriceProcess(0.2, draws="legacy")
    with pytest.raises(ValueError, match=r"unknown demand kind None"):
        process_from_dict({"low": 1.0}, "demand")  # demand always had a kind
    with pytest.raises(TypeError):  # an unknown parameter is the constructor's TypeError
        process_from_dict({"kind": "uniform", "bogus": 1}, "demand")


def test_sample_exogenous_draws_in_the_documented_order():
    """demand, then base price and premium, then storage rate, all from one generator."""
    cfg = make_scenario("seasonal", **SMALL)
    got = sample_exogenous(cfg, np.random.default_rng(5), 3)
    rng = np.random.default_rng(5)
    demand = cfg.demand.sample(rng, 3, 4, 3)
    base, premium = cfg.price.sample(rng, cfg.price_level, 3, 4)
    rate = cfg.storage.sample(rng, 3, 4, 3)
    assert list(got) == list(TRACE_FIELDS)
    for key, want in zip(TRACE_FIELDS, (demand, base, premium, rate), strict=True):
        np.testing.assert_array_equal(got[key], want)


def test_register_refuses_duplicates_and_classes_without_the_protocol(registered):
    @dataclass(frozen=True)
    class Other(DemandBase):
        def sample(self, rng, batch, horizon, n_drugs):
            return np.zeros((batch, horizon, n_drugs))

    with pytest.raises(
        ValueError, match=r"'test-constant' is already registered \(ConstantDemand\)"
    ):
        register_process("test-constant", Other)
    with pytest.raises(
        ValueError, match="ConstantDemand is already registered as kind 'test-constant'"
    ):
        register_process("test-constant-2", ConstantDemand)
    register_process("test-constant", ConstantDemand)  # the same pair again: a no-op
    assert PROCESSES["test-constant"] is ConstantDemand

    class NoRole:
        def sample(self, rng, batch, horizon, n_drugs):
            return np.zeros((batch, horizon, n_drugs))

    class NoSample(DemandBase):
        pass

    class WrongArity(DemandBase):
        def sample(self, rng, horizon):
            return np.zeros(horizon)

    with pytest.raises(TypeError, match=r"NoRole\.role = None; a process class needs a role"):
        register_process("test-bad", NoRole)
    with pytest.raises(TypeError, match=r"NoSample has no sample\(\)"):
        register_process("test-bad", NoSample)
    with pytest.raises(
        TypeError,
        match=r"WrongArity\.sample\(self, rng, horizon\) must take "
        r"\(rng, batch, horizon, n_drugs\)",
    ):
        register_process("test-bad", WrongArity)
    with pytest.raises(TypeError, match="is not a class"):
        register_process("test-bad", ConstantDemand())
    with pytest.raises(ValueError, match="process kind = '' must be a non-empty string"):
        register_process("", Other)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        register_process("test-bad", Other, replace=True)  # type: ignore[call-overload]
    assert "test-bad" not in PROCESSES
    with pytest.raises(ValueError, match="unknown process kind 'test-bad'; registered"):
        unregister_process("test-bad")


def test_decorator_overwrite_and_unregister():
    try:

        @register_process("test-deco")
        @dataclass(frozen=True)
        class Deco(DemandBase):
            def sample(self, rng, batch, horizon, n_drugs):
                return np.zeros((batch, horizon, n_drugs))

        assert PROCESSES["test-deco"] is Deco and process_kind(Deco()) == "test-deco"
        assert Deco().to_dict() == {"kind": "test-deco"}
        assert Deco.from_dict({"kind": "test-deco"}) == Deco()
        with pytest.raises(ValueError, match=r"got kind = 'uniform'; its kind is 'test-deco'"):
            Deco.from_dict({"kind": "uniform"})
        register_process("test-deco", ConstantDemand, overwrite=True)
        assert PROCESSES["test-deco"] is ConstantDemand and process_kind(Deco) is None
    finally:
        unregister_process("test-deco")
    assert "test-deco" not in PROCESSES and process_kind(ConstantDemand) is None


def test_config_refuses_processes_of_the_wrong_role(registered):
    base = make_scenario("paper", **SMALL)
    with pytest.raises(
        ValueError,
        match=r"price = .* must be a PriceProcess or another process "
        r"with role 'price'",
    ):
        base.replace(price=ConstantDemand())
    with pytest.raises(ValueError, match=r"storage = .* must be a StorageRateProcess"):
        base.replace(storage=FlatPrice())
    with pytest.raises(ValueError, match=r"demand = 'uniform' has no sample"):
        base.replace(demand="uniform")

    @dataclass(frozen=True)
    class NoHigh(StorageRateBase):  # the observation divides rates by ``high``
        def sample(self, rng, batch, horizon, n_drugs):
            return np.ones((batch, horizon, n_drugs))

    with pytest.raises(ValueError, match=r"storage\.high = None must be a number"):
        base.replace(storage=NoHigh())


def test_a_draw_with_the_wrong_fields_is_named():
    @dataclass(frozen=True)
    class Sloppy(DemandBase):
        def sample(self, rng, batch, horizon, n_drugs):
            return np.zeros((batch, horizon, n_drugs))

        def draw(self, rng, config, batch):
            return {"demand": self.sample(rng, batch, config.horizon, config.n_drugs), "x": 1}

    cfg = make_scenario("paper", **SMALL, demand=Sloppy())
    with pytest.raises(ValueError, match=r"Sloppy\.draw returned \['demand', 'x'\]; expected"):
        sample_exogenous(cfg, np.random.default_rng(0), 1)


def test_compact_and_legacy_demand_draws():
    """``draws="compact"`` (default): integer demand ``lo + floor(u (hi - lo + 1))`` from a
    float32 uniform, each value equally likely; ``"legacy"`` is ``rng.integers`` exactly."""
    compact = UniformDemand(5.0, 20.0).sample(np.random.default_rng(3), 4, 50, 100)
    rng = np.random.default_rng(3)
    u = rng.random((4, 50, 100), dtype=np.float32).astype(np.float64)
    np.testing.assert_array_equal(compact, 5.0 + np.floor(u * 16))
    counts = np.bincount(compact.astype(int).ravel(), minlength=21)[5:]
    assert counts.min() > 0.9 * compact.size / 16 and counts.max() < 1.1 * compact.size / 16
    legacy = UniformDemand(5.0, 20.0, draws="legacy").sample(np.random.default_rng(3), 2, 3, 4)
    want = np.random.default_rng(3).integers(5, 21, size=(2, 3, 4)).astype(np.float64)
    np.testing.assert_array_equal(legacy, want)
    with pytest.raises(ValueError, match=r"UniformDemand\.draws = 'fast'"):
        UniformDemand(draws="fast")
