"""Every benchmark script runs at tiny size (checks that it runs, not how fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from druginv_gym import dynamics

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, out: Path, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_perf(tmp_path):
    out = run("perf.py", tmp_path)
    df = pd.read_csv(tmp_path / "perf.csv")
    kinds = {"peer", "single", "single-unwrapped", "native-vector", "sync-vector"}
    if dynamics.numba_available():
        kinds |= {"memory-floor", "floor-with-traces"}
    assert set(df.kind) == kinds
    assert (df.steps_per_s_median > 0).all()
    assert "GymInvMgmt/Serial-v0, env steps per second, per interleaved round" in out
    ratios = pd.read_csv(tmp_path / "single_vs_peer.csv")
    assert set(ratios.backend) == set(df.backend.dropna()) - {""}
    assert (ratios.ratio_min > 0).all() and (ratios.ratio_min <= ratios.ratio_max).all()
    curve = pd.read_csv(tmp_path / "curve.csv")
    assert len(curve) == 4 and (curve.bytes_per_env > 0).all()
    agents = pd.read_csv(tmp_path / "agents.csv")
    assert set(agents.agent) == {"ppo", "dqn"} and (agents.steps_per_s > 0).all()
    assert (tmp_path / "perf_curve.png").stat().st_size > 10_000


def test_hindsight(tmp_path):
    out = run("hindsight.py", tmp_path, "--pivtol-ab")
    df = pd.read_csv(tmp_path / "hindsight.csv")
    assert (df.status == "optimal").all()
    assert "ipopt/balance/pivtol-1e-6" in set(df.method)
    assert "ipopt/balance vs ipopt/balance/pivtol-1e-6" in out
    # the two pivot tolerances reach the same optimum
    wide = df.pivot_table(index=["n_drugs", "seed"], columns="method", values="objective")
    rel = (wide["ipopt/balance"] - wide["ipopt/balance/pivtol-1e-6"]).abs() / wide["ipopt/balance"]
    assert (rel < 1e-6).all()
    assert (tmp_path / "hindsight_time.png").stat().st_size > 5_000


def test_baselines(tmp_path):
    out = run("baselines.py", tmp_path)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert "hindsight-optimal" in set(summary.policy)
    assert (summary.gap_to_optimum >= -1e-6).all(), out


@pytest.mark.slow
def test_forecasting(tmp_path):
    run("forecasting.py", tmp_path)
    errors = pd.read_csv(tmp_path / "forecast_errors.csv")
    assert set(errors.horizon) == {1, 2, 3} and errors[["mae", "rmse", "smape"]].notna().all().all()
    assert (tmp_path / "forecast_vs_actual.png").stat().st_size > 20_000


@pytest.mark.slow
def test_forecast_value(tmp_path):
    """Fit, train, evaluate and report at tiny size: every forecaster, policy and agent has
    its row, every forecast its errors, and the optimum stays below every policy."""
    out = run("forecast_value.py", tmp_path)
    rows = pd.read_csv(tmp_path / "value.csv")
    assert set(rows.scenario) == {"pharma", "seasonal"}
    assert {"optimum", "hindsight plan", "base-stock", "mpc", "saa", "ppo"} == set(rows.policy)
    assert "true future" in set(rows[rows.policy == "mpc"].forecaster)
    for scenario, part in rows.groupby("scenario"):
        opt = part[part.policy == "optimum"].cost.iloc[0]
        assert (part.cost >= opt - 1e-6 * abs(opt)).all(), (scenario, out)
    errors = pd.read_csv(tmp_path / "forecast_error.csv")
    assert len(errors) == 12 and errors[["mae", "rmse", "smape"]].notna().all().all()
    assert "| mpc | true future |" in (tmp_path / "value.md").read_text()
    assert (tmp_path / "cost_vs_error.png").stat().st_size > 10_000


@pytest.mark.slow
def test_forecast_value_dqn_beside_the_references_only(tmp_path):
    """``--algos dqn --rules base-stock``: DQN with and without each forecast, beside only the
    optimum and base-stock without a forecast; ``ship`` names the DQN agents and lists them
    with their algorithm next to the PPO agents already listed."""
    flags = ("--algos", "dqn", "--rules", "base-stock", "--scenarios", "pharma")
    run("forecast_value.py", tmp_path, *flags)
    rows = pd.read_csv(tmp_path / "value.csv")
    assert set(rows.policy) == {"optimum", "hindsight plan", "base-stock", "dqn"}
    assert set(rows[rows.policy == "base-stock"].forecaster) == {"none"}
    forecasters = {"naive", "moving_average", "exponential_smoothing", "lstm", "cnn_lstm", "mlp"}
    assert set(rows[rows.policy == "dqn"].forecaster) == {"none", *forecasters}
    assert set(pd.read_csv(tmp_path / "forecast_error.csv").forecaster) == forecasters
    dest = tmp_path / "shipped"
    dest.mkdir()
    old = pd.DataFrame([{"name": "ppo-pharma-8", "scenario": "pharma", "cost": 1.0}])
    old.to_csv(dest / "forecast_agents.csv", index=False)  # an index from before DQN
    run("forecast_value.py", tmp_path, "ship", *flags, "--dest", str(dest))
    index = pd.read_csv(dest / "forecast_agents.csv")
    assert index.set_index("name").algo.to_dict() == {
        "ppo-pharma-8": "ppo",
        "dqn-pharma-8": "dqn",
        **{f"dqn-pharma-8-{f}": "dqn" for f in forecasters},
    }
    assert (dest / "dqn-pharma-8-lstm.pt").is_file()
    assert (dest / "forecasters" / "pharma-lstm.pt").is_file()


def test_sweep_sizes(tmp_path):
    out = run("sweep_sizes.py", tmp_path)
    table = pd.read_csv(tmp_path / "sizes.csv")
    assert set(table.n_drugs) == {4, 6} and set(table.agent) == {"ppo", "dqn"}
    assert table.drop(columns="agent").notna().all().all()
    assert "70 (paper) | DRLD" in out


def test_ab_compares_two_revisions(tmp_path):
    out = run("ab.py", tmp_path)
    df = pd.read_csv(tmp_path / "ab.csv")
    assert set(df.workload) == {"single DrugRefill-v0", "vector-4 DrugRefill-v0"}
    assert (df.base > 0).all() and (df.new > 0).all()
    assert "new/base" in out


def test_calibrate(tmp_path):
    out = run("calibrate.py", tmp_path)
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    table = pd.read_csv(tmp_path / "calibration.csv")
    assert len(ranking) == 2 and set(table.policy) == {"over-provisioning", "ski-rental", "max-min"}
    assert (ranking.distance_pp >= 0).all() and "distance_pp" in out


def test_draws(tmp_path):
    out = run("draws.py", tmp_path)
    df = pd.read_csv(tmp_path / "draws.csv")
    assert set(df.draws) == {"legacy", "compact"} and (df.ms_min > 0).all()
    assert "legacy / compact per round" in out


def test_sensitivity(tmp_path):
    out = run("sensitivity.py", tmp_path)
    table = pd.read_csv(tmp_path / "sensitivity.csv")
    assert list(table.variant) == ["calibrated", "premium-exogenous"]
    assert table.filter(like="margin_").notna().all().all()
    assert "the paper (DRLD)" in out and (tmp_path / "sensitivity.md").exists()


def test_recipe_learns_with_the_order_up_to_wrapper(tmp_path):
    """SB3's PPO with its defaults: through OrderUpToAction it beats random actions and
    over-provisioning at 5 drugs and 4,000 steps; on the plain box actions it collapses to
    ordering nothing (the failure the wrapper answers)."""
    pytest.importorskip("stable_baselines3")
    run("recipe.py", tmp_path)
    df = pd.read_csv(tmp_path / "recipe.csv").set_index("policy")
    wrapped = df.loc["sb3-ppo, OrderUpToAction", "cost_mean"]
    assert wrapped < 0.98 * df.loc["random", "cost_mean"]
    assert wrapped < df.loc["over-provisioning", "cost_mean"]
    assert wrapped < 0.6 * df.loc["sb3-ppo, box actions", "cost_mean"]


def test_shortage(tmp_path):
    """Both runs (announced and not) and the comparison: every policy in both, the optimum
    below each, the announcement worth nothing to a rule that cannot see it."""
    run("shortage.py", tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("policy")
    assert {"hindsight-optimal", "mpc", "saa", "base-stock"} <= set(table.index)
    for run_name in ("unannounced", "announced"):
        assert (table[f"{run_name}_gap_to_optimum"].dropna() >= -1e-6).all()
        assert (table[f"{run_name}_total_cost"].dropna() > 0).all()
    # base-stock reads no announcement: the same orders, the same cost
    assert table.loc["base-stock", "announcement_announce_value"] == pytest.approx(0.0, abs=1e-12)
    assert "What the supply model did" in (tmp_path / "comparison.md").read_text()


def test_classes(tmp_path):
    """The three runs of hospital (as it is, no targets, no substitution) and the comparison:
    rules that read no target cost the same with and without them, the price of the targets
    at the optimum is never negative."""
    run("classes.py", tmp_path)
    table = pd.read_csv(tmp_path / "comparison.csv").set_index("policy")
    assert {"hindsight-optimal", "mpc", "base-stock", "max-min"} <= set(table.index)
    assert table.loc["max-min", "vs_no-targets"] == pytest.approx(0.0, abs=1e-12)
    assert table.fill_rate_V.between(0, 1).all()
    price = pd.read_csv(tmp_path / "target_price.csv")
    assert len(price) == 2 and (price.targets_cost >= -1e-6).all()
    assert "What the targets cost the optimum" in (tmp_path / "comparison.md").read_text()


def test_supply_step(tmp_path):
    """Runs every case against a worktree of HEAD (always present, also in a shallow clone)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "supply_step.py"), "--quick", "--out",
         str(tmp_path), "--before", "HEAD"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    df = pd.read_csv(tmp_path / "supply_step.csv")
    assert set(df.case) == {
        "paper",
        "paper@HEAD",
        "paper/numpy",
        "off",
        "shortage",
        "shortage/numpy",
    }
    assert set(df.env) == {"single", "vector"} and (df.steps_per_s > 0).all()
    assert (df[df.case == "paper"].ratio_to_paper == 1.0).all()


def test_scale(tmp_path):
    out = run("scale.py", tmp_path)
    df = pd.read_csv(tmp_path / "scale.csv")
    assert {"single", "vector", "formulary"} == set(df.section)
    single = df[df.section == "single"].set_index("env")
    assert single.loc["CartPole-v1", "vs_cartpole_median"] == 1.0
    assert (single.vs_cartpole_median > 0).all()
    vector = df[df.section != "single"]
    assert {"native vector, full info", "native vector, summary info"} <= set(vector.env)
    assert (df.drug_steps_per_s_median > 0).all()
    assert "vs CartPole" in (tmp_path / "scale.md").read_text() and "wrote" in out


def test_growth(tmp_path):
    out = run("growth.py", tmp_path)
    df = pd.read_csv(tmp_path / "growth.csv")
    assert set(df.curve) == {"drugs", "envs"}
    assert (df.s_per_slot_min <= df.s_per_slot_median).all()
    assert (df.s_per_slot_median <= df.s_per_slot_max).all()
    assert (df.bytes_per_env > 0).all()
    fits = pd.read_csv(tmp_path / "growth_slopes.csv")
    assert len(fits) == 4 and fits.slope_from.notna().all()
    assert "wrote" in out


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_training_speed(tmp_path, algo):
    variants = ["num_envs=8", "num_envs=16"] if algo == "dqn" else ["num_envs=4", "num_envs=8"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "training_speed.py"), "--quick",
         "--algo", algo, "--variants", *variants, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    df = pd.read_csv(tmp_path / "training_speed.csv")
    assert list(df.variant) == variants and (df.per_s > 0).all()
    assert (df.held_out_cost > 0).all()
    summary = pd.read_csv(tmp_path / "training_speed_summary.csv")
    assert summary.speedup_median.iloc[0] == 1.0


def test_mpc_time(tmp_path):
    out = run("mpc_time.py", tmp_path)
    df = pd.read_csv(tmp_path / "mpc_time.csv")
    assert list(df.slot) == [0, 1, 2] and (df.seconds > 0).all()
    assert (df.status != "").all() and "failed solves" in out
