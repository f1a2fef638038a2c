"""The policy registry: a third-party policy, registered in Python or through an entry point,
reaches BenchmarkSpec validation, make_policy, ``druginv benchmark``/``evaluate``/``train`` and
the sweep's ``--local`` run; broken plugins warn and name themselves; unknown names list the
known ones."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import druginv_gym
from druginv_gym import registry
from druginv_gym.benchmark import BenchmarkSpec, make_policy, run_benchmark, tune_baselines
from druginv_gym.cli import main

TINY = ["--n-drugs", "3", "--horizon", "4"]
BUILTINS = (
    "hindsight-optimal",
    "over-provisioning",
    "ski-rental",
    "max-min",
    "base-stock",
    "(s,S)",
    "random",
)


class ConstantOrders:
    """Orders the same fraction of the refill range for every drug, every slot."""

    def __init__(self, env: gym.Env, fraction: float = 0.5) -> None:
        self.action = np.full(env.unwrapped.config.n_drugs, fraction, dtype=np.float32)

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.action


def _tune_constant(spec: BenchmarkSpec, progress: bool | None) -> dict[str, float]:
    return {"fraction": 0.25}


def _register_constant(name: str = "constant", **fields: Any) -> registry.PolicyEntry:
    return registry.register_policy(
        name,
        registry.rule(ConstantOrders),
        help="a constant fraction of the refill range (tests)",
        tune=_tune_constant,
        **fields,
    )


@pytest.fixture
def scratch(monkeypatch):
    """The registry as it is (plugins loaded), restored after the test."""
    registry.load_plugins()
    saved = registry._policies.snapshot(), registry._trainers.snapshot()
    monkeypatch.setattr(registry, "_curves", list(registry._curves))
    yield
    registry._policies.restore(saved[0])
    registry._trainers.restore(saved[1])


@pytest.fixture
def fresh(monkeypatch):
    """The registry before any plugin loaded, with ``plugins(list)`` to choose the entry
    points it then finds; restored after the test."""
    registry.load_plugins()
    saved = registry._policies.snapshot(), registry._trainers.snapshot()
    registry._policies.restore({n: e for n, e in saved[0].items() if n in BUILTINS})
    registry._trainers.restore({})
    monkeypatch.setattr(registry, "_curves", [])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    calls: list[str] = []
    CALLS.clear()
    real = importlib.metadata.entry_points

    def plugins(eps: list[importlib.metadata.EntryPoint]) -> None:
        def entry_points(**kw: Any) -> Any:
            if kw.get("group") != registry.ENTRY_POINT_GROUP:
                return real(**kw)  # other libraries' groups stay as installed
            calls.append(kw["group"])
            return eps

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    plugins.calls = calls  # type: ignore[attr-defined]
    yield plugins
    registry._policies.restore(saved[0])
    registry._trainers.restore(saved[1])


def _ep(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


# Entry-point targets (loaded by name, as a third-party package's would be).
CALLS: list[str] = []


def register_plugin() -> None:
    CALLS.append("register_plugin")
    _register_constant("plugin-constant")


def register_half_then_fail() -> None:
    _register_constant("half-registered")
    raise RuntimeError("the plugin's own bug")


NOT_A_FUNCTION = 42


# ---------------------------------------------------------------------------------------------


def test_builtins_are_the_old_default_set_in_order():
    assert registry.default_policies() == (
        "hindsight-optimal",
        "dqn",
        "dqn-forecast",
        "ppo",
        "ppo-forecast",
        "over-provisioning",
        "ski-rental",
        "max-min",
        "base-stock",
        "(s,S)",
        "mpc",
        "saa",
    )
    from druginv_gym import benchmark

    assert registry.default_policies() == benchmark.DEFAULT_POLICIES
    assert benchmark.OTHER_POLICIES == (
        "over-provisioning-cover",
        "ski-rental-band",
        "max-min-up-to",
        "random",
    )
    assert benchmark.AGENTS == ("dqn", "dqn-forecast", "ppo", "ppo-forecast")
    assert benchmark.BASELINES == (
        "over-provisioning",
        "ski-rental",
        "max-min",
        "base-stock",
        "(s,S)",
        "mpc",
        "saa",
    )
    assert BenchmarkSpec().policies == registry.default_policies()
    assert [t.name for t in registry.trainers()] == ["ppo", "dqn"]


def test_a_policy_registered_in_python_reaches_spec_make_policy_cli_and_sweep(
    scratch, tmp_path, capsys
):
    _register_constant()
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, tune_episodes=1, policies=("constant",))
    tuned = tune_baselines(spec, progress=False)
    assert tuned == {"constant": {"fraction": 0.25}}
    env, policy, label = make_policy("constant", spec, tuned)
    assert isinstance(policy, ConstantOrders) and label == "fraction=0.25"
    ref = druginv_gym.evaluate(env, policy, 1, 0).total_cost.iloc[0]

    out = tmp_path / "bench"
    argv = ["benchmark", *TINY, "--episodes", "1", "--tune-episodes", "1", "--no-plots"]
    assert main([*argv, "--policies", "constant", "max-min", "--out", str(out)]) == 0
    assert "constant" in capsys.readouterr().out
    results = pd.read_csv(out / "results.csv")
    assert results.policy.tolist() == ["constant", "max-min"]
    assert results.total_cost.iloc[0] == pytest.approx(ref, rel=1e-12)
    assert "| constant | fraction=0.25 |" in (out / "summary.md").read_text()

    assert main(["evaluate", "constant", *TINY, "--episodes", "1", "--tune-episodes", "1"]) == 0
    assert "constant" in capsys.readouterr().out

    sweep = ["sweep", "--local", *TINY, "--seeds", "0", "--tune-episodes", "1"]
    assert main([*sweep, "--policies", "constant", "--out", str(tmp_path / "sweep")]) == 0
    table = pd.read_csv(tmp_path / "sweep" / "sweep.csv")
    assert table.policy.tolist() == ["constant"]
    assert table.source.tolist() == ["fraction=0.25"]
    assert table.total_cost.iloc[0] == pytest.approx(ref, rel=1e-12)

    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    assert "constant" in capsys.readouterr().out


def test_policies_registered_in_python_are_what_workers_must_be_handed(scratch, tmp_path):
    """Only names registered after the built-ins and plugins are runtime entries; a run with
    worker processes whose runtime policy cannot be pickled (``rule`` makes a closure) plays
    in one process and says so."""
    entry = _register_constant()
    assert registry.runtime_entries(["constant", "max-min", "agent:ppo-paper-30"]) == {
        "constant": entry
    }
    registry.add_entries({"constant": entry})  # idempotent: the same entry, its place kept
    assert registry.get_policy("constant") is entry
    spec = BenchmarkSpec(
        n_drugs=3, horizon=4, episodes=2, tune_episodes=1, policies=("constant", "max-min")
    )
    said: list[str] = []
    result = run_benchmark(spec, tmp_path, progress=False, plots=False, log=said.append, jobs=2)
    assert any("playing in one process" in m and "['constant']" in m for m in said), said
    assert len(result.results) == 4


def test_default_order_places_a_policy_in_the_default_set(scratch):
    _register_constant(default_order=35)
    defaults = registry.default_policies()
    assert defaults.index("constant") == defaults.index("over-provisioning") + 1
    assert "constant" in BenchmarkSpec(n_drugs=3, horizon=4).policies
    registry.unregister_policy("constant")
    assert "constant" not in registry.default_policies()
    with pytest.raises(ValueError, match="unknown policy 'constant'; registered: "):
        registry.unregister_policy("constant")


def test_a_plugin_from_an_entry_point_is_loaded_once_and_is_everywhere(fresh, tmp_path, capsys):
    fresh([_ep("thirdparty", "tests.test_registry:register_plugin")])
    assert "plugin-constant" in registry.policy_names()
    assert "plugin-constant" not in registry.default_policies()
    registry.policies(), registry.trainers(), registry.resolve("plugin-constant")
    assert CALLS == ["register_plugin"] and fresh.calls == [registry.ENTRY_POINT_GROUP]

    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("plugin-constant",))
    env, policy, label = make_policy("plugin-constant", spec, tune_baselines(spec, False))
    assert isinstance(policy, ConstantOrders) and label == "fraction=0.25"

    argv = ["benchmark", *TINY, "--episodes", "1", "--tune-episodes", "1", "--no-plots"]
    assert main([*argv, "--policies", "plugin-constant", "--out", str(tmp_path / "b")]) == 0
    assert "plugin-constant" in capsys.readouterr().out
    sweep = ["sweep", "--local", *TINY, "--seeds", "0-1", "--tune-episodes", "1"]
    assert main([*sweep, "--policies", "plugin-constant", "--out", str(tmp_path / "s")]) == 0
    assert len(pd.read_csv(tmp_path / "s" / "sweep.csv")) == 2
    assert CALLS == ["register_plugin"]  # still once


def test_broken_entry_points_warn_naming_themselves_and_undo_what_they_registered(fresh):
    fresh(
        [
            _ep("missing-module", "tests.no_such_module:register"),
            _ep("half", "tests.test_registry:register_half_then_fail"),
            _ep("not-callable", "tests.test_registry:NOT_A_FUNCTION"),
            _ep("good", "tests.test_registry:register_plugin"),
        ]
    )
    with pytest.warns(registry.PluginWarning) as caught:
        names = registry.policy_names()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3
    assert "'missing-module' (tests.no_such_module:register)" in messages[0]
    assert "ModuleNotFoundError" in messages[0]
    assert "'half'" in messages[1] and "RuntimeError: the plugin's own bug" in messages[1]
    assert "'not-callable'" in messages[2] and "is not a function" in messages[2]
    assert all(registry.ENTRY_POINT_GROUP in m for m in messages)
    assert "half-registered" not in names  # undone: a plugin never half-registers
    assert "plugin-constant" in names  # the good plugin after the broken ones still loads
    assert set(BUILTINS) <= set(names)


def test_without_the_agents_plugin_the_gym_still_works(fresh, tmp_path):
    fresh([])
    assert registry.default_policies() == (
        "hindsight-optimal",
        "over-provisioning",
        "ski-rental",
        "max-min",
        "base-stock",
        "(s,S)",
    )
    assert registry.trainers() == () and registry.training_curves() is None
    with pytest.raises(ValueError, match="unknown policy 'agent:ppo-paper-30'"):
        BenchmarkSpec(policies=("agent:ppo-paper-30",))


def test_unknown_names_give_a_value_error_listing_the_known_ones(scratch):
    with pytest.raises(ValueError, match=r"unknown policy 'nope'; choose from \[") as exc:
        registry.resolve("nope")
    for name in (*BUILTINS, "dqn", "ppo", "'agent:<name or path>'"):
        assert name in str(exc.value)
    with pytest.raises(ValueError, match=r"unknown policy 'oracle'; choose from .*'max-min'"):
        BenchmarkSpec(policies=("oracle",))
    with pytest.raises(ValueError, match=r"unknown policy 'nope-policy'; .*'ppo-paper-70'"):
        registry.resolve_alias("nope-policy")
    with pytest.raises(ValueError, match=r"unknown policy 'nope'; choose from .*'max-min'"):
        registry.get_policy("nope")
    with pytest.raises(ValueError, match=r"unknown trainer 'sac'; choose from \['ppo', 'dqn'\]"):
        registry.get_trainer("sac")
    with pytest.raises(
        ValueError, match="policy 'agent' needs an argument: 'agent:<name or path>'"
    ):
        registry.resolve("agent")
    with pytest.raises(ValueError, match="policy 'agent:' needs an argument"):
        registry.resolve("agent:")
    with pytest.raises(ValueError, match="policy 'max-min' takes no argument"):
        registry.resolve("max-min:3")
    assert registry.resolve("agent:ppo-paper-30")[1] == "ppo-paper-30"
    assert registry.resolve_alias("ppo-paper-30") == "agent:ppo-paper-30"
    assert registry.resolve_alias("runs/x/best.pt") == "agent:runs/x/best.pt"
    assert registry.resolve_alias("max-min") == "max-min"


def test_registration_checks_its_fields(scratch):
    _register_constant()
    with pytest.raises(ValueError, match="policy 'constant' is already registered"):
        _register_constant()
    assert _register_constant(overwrite=True, default_order=5).default_order == 5
    with pytest.raises(ValueError, match="kind = 'oracle' must be one of"):
        _register_constant("x", kind="oracle")
    with pytest.raises(ValueError, match="policy name = 'a:b' must be"):
        _register_constant("a:b")
    with pytest.raises(ValueError, match="default_order = 'first' is not a number"):
        _register_constant("x", default_order="first")
    with pytest.raises(ValueError, match=r"a family .* is neither tuned nor in the default set"):
        _register_constant("x", takes_argument=True)
    with pytest.raises(ValueError, match="build = 3 is not callable"):
        registry.register_policy("x", 3, help="h")
    with pytest.raises(ValueError, match="help = '' must be one non-empty line"):
        registry.register_policy("x", registry.rule(ConstantOrders), help="")
    with pytest.raises(TypeError, match="colour"):
        registry.register_policy("x", registry.rule(ConstantOrders), help="h", colour="red")
    with pytest.raises(ValueError, match=r"skip_errors = .* must be a tuple of exceptions"):
        _register_constant("x", skip_errors=("ValueError",))
    with pytest.raises(ValueError, match="trainer 'sac' is already registered"):
        registry.register_trainer("sac", lambda: (dict, print), help="h")
        registry.register_trainer("sac", lambda: (dict, print), help="h")
    assert "x" not in registry.policy_names()


def test_a_family_with_aliases_resolves_bare_names(scratch, capsys):
    def build(spec, params, argument):
        env = spec.make_env()
        return env, ConstantOrders(env, float(argument)), f"fraction {argument}"

    registry.register_policy(
        "const",
        build,
        help="a constant fraction given after the colon",
        takes_argument=True,
        metavar="fraction",
        aliases=lambda: ["0.125"],
    )
    assert registry.resolve_alias("0.125") == "const:0.125"
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("const:0.3",))
    _, policy, label = make_policy("const:0.3", spec, {})
    assert policy.action[0] == pytest.approx(0.3) and label == "fraction 0.3"
    assert main(["evaluate", "0.125", *TINY, "--episodes", "1"]) == 0
    assert "0.125" in capsys.readouterr().out
    with pytest.raises(ValueError, match="'const:<fraction>'"):
        registry.resolve("nope")


def test_skip_errors_skip_with_a_note_and_other_errors_raise(scratch, tmp_path):
    def broken(spec, params, argument):
        raise ImportError("No module named 'fancy_solver'")

    registry.register_policy("fancy", broken, help="needs fancy_solver", skip_errors=(ImportError,))
    registry.register_policy("strict", broken, help="needs fancy_solver")
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("fancy", "max-min"))
    result = run_benchmark(spec, tmp_path / "a", progress=False, plots=False, log=lambda m: None)
    assert result.notes == ["fancy: skipped (No module named 'fancy_solver')"]
    assert result.results.policy.tolist() == ["max-min"]
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("strict",))
    with pytest.raises(ImportError, match="fancy_solver"):
        run_benchmark(spec, tmp_path / "b", progress=False, plots=False, log=lambda m: None)


def test_a_policy_that_does_not_apply_is_left_out_without_a_note(scratch, tmp_path):
    def elsewhere(spec, params, argument):
        raise registry.NotApplicable(f"nothing for scenario {spec.scenario!r}")

    registry.register_policy("elsewhere", elsewhere, help="only on other scenarios")
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=2, policies=("elsewhere", "max-min"))
    result = run_benchmark(spec, tmp_path / "a", progress=False, plots=False, log=lambda m: None)
    assert result.notes == [] and set(result.results.policy) == {"max-min"}
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("elsewhere",))
    with pytest.raises(ValueError, match="elsewhere: nothing for scenario 'paper'"):
        run_benchmark(spec, tmp_path / "b", progress=False, plots=False, log=lambda m: None)


def test_a_tuned_policy_needs_its_parameters(scratch):
    _register_constant()
    spec = BenchmarkSpec(n_drugs=3, horizon=4, episodes=1, policies=("constant",))
    with pytest.raises(ValueError, match="policy 'constant' is tuned first"):
        make_policy("constant", spec, {})


@dataclass
class FakeConfig:
    env_kwargs: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    total_steps: int = 10
    rate: float = 0.1


def fake_train(cfg: FakeConfig, logdir, resume=None, progress=None) -> SimpleNamespace:
    (logdir / "config.txt").write_text(repr(cfg))
    return SimpleNamespace(meta={"best_eval_cost": 123.0, "global_step": cfg.total_steps})


def test_a_registered_trainer_is_a_train_subcommand(scratch, tmp_path, capsys):
    registry.register_trainer("fake", lambda: (FakeConfig, fake_train), help="a test trainer")
    argv = ["train", "fake", *TINY, "--total-steps", "7", "--set", "rate=0.5"]
    assert main([*argv, "--logdir", str(tmp_path)]) == 0
    assert "fake: best validation cost 123 USD after 7 steps" in capsys.readouterr().out
    text = (tmp_path / "config.txt").read_text()
    assert "rate=0.5" in text and "'n_drugs': 3" in text
    assert main(["train", "fake", "--set", "gamma=1", "--logdir", str(tmp_path)]) == 2
    assert "KEY one of ['device', 'rate', 'seed', 'total_steps']" in capsys.readouterr().err


def test_training_curves_come_from_every_provider(scratch):
    shipped = registry.training_curves()
    assert shipped is not None and {"agent", "tag", "step", "value", "wall_s"} <= set(shipped)
    extra = pd.DataFrame(
        {"agent": ["mine"], "tag": ["eval_cost"], "step": [1], "value": [2.0], "wall_s": [3.0]}
    )
    registry.register_training_curves(lambda: extra)
    registry.register_training_curves(lambda: None)
    both = registry.training_curves()
    assert len(both) == len(shipped) + 1 and both.agent.iloc[-1] == "mine"
    with pytest.raises(ValueError, match="provider = 3 is not callable"):
        registry.register_training_curves(3)
