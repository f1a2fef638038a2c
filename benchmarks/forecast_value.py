"""The value of a demand forecast: forecast-informed agents and rules against the same without.

Per scenario (``pharma``: real weekly sales, agents trained on the weeks before the split date
and scored on the weeks after; ``seasonal``: synthetic trend, seasonality and shocks), in four
stages, each resumable (a finished piece is never redone):

1. ``fit``: every forecaster fitted on the scenario's training data only
   (:func:`druginv_gym.forecasting.training_series`): damped Holt (``exponential_smoothing``),
   ``lstm``, ``cnn_lstm``, and the transfer-learned ``mlp`` (pretrained on the *other*
   scenario's training series, the other "business", then fine-tuned with its lower two
   layers frozen); ``naive`` and ``moving_average`` need no fitting.
2. ``train``: each agent of ``--algos`` with each forecaster in the observation (``druginv
   train ppo --forecaster``; DQN, the paper's DRLD, likewise with ``--algos dqn``) and without
   (the control), same budget and seeds; ``--jobs`` runs in parallel. PPO trains ``--steps``
   slots x envs (the shipped PPO agents' 300k), DQN ``--dqn-steps`` drug decisions with the
   shipped ``dqn-paper-70``'s recipe (``DQN_RECIPE``, 1M decisions).
3. ``evaluate``: on held-out episodes (seeds ``0 .. episodes-1``; ``pharma``'s test weeks):
   the hindsight optimum (the QP's objective, the lower bound, and its plan replayed through
   the env, which costs more where the relaxation holds stock back); base-stock tuned on
   training seeds, without and with each forecast; MPC with each forecast, with the true
   future (the look-ahead upper reference) and the naive forecast (the lower one); the
   stochastic program on the scenario's demand process and around each forecast
   (``SAA_FORECASTERS``); every trained agent; and each forecaster's
   one-slot-ahead MAE / RMSE / SMAPE on the same episodes, computed as the observation
   wrapper computes them (from the demand seen so far this episode, the nominal mean before).
4. ``report``: ``value.md`` (tables), ``value.csv``, ``forecast_error.csv`` and
   ``cost_vs_error.png`` (cost against forecast error, one marker per policy family).

Usage::

    python benchmarks/forecast_value.py all --out results/forecast           # everything
    python benchmarks/forecast_value.py train --scenarios pharma --jobs 2
    python benchmarks/forecast_value.py all --quick --out /tmp/fv             # seconds: runs
    python benchmarks/forecast_value.py ship --out results/forecast           # seed-0 agents
    python benchmarks/forecast_value.py all --algos dqn --rules base-stock --out results/fv-dqn
    python benchmarks/forecast_value.py train --algos ppo dqn --forecasters cnn_lstm mlp

``--rules base-stock`` plays, besides the agents, only the optimum and base-stock without a
forecast (the references of the table), not every forecast-driven rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import druginv_gym
from druginv_gym.benchmark import BenchmarkSpec
from druginv_gym.forecasting import (
    FORECASTERS,
    MLPForecaster,
    fit_forecaster,
    make_forecaster,
    training_series,
)
from druginv_gym.forecasting.metrics import mae, rmse, smape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pyplot, write_atomic, write_csv_atomic

#: Scenario -> (drugs, forecasters given to the agents).
SCENARIOS: dict[str, tuple[int, tuple[str, ...]]] = {
    "pharma": (
        8,
        ("naive", "moving_average", "exponential_smoothing", "lstm", "cnn_lstm", "mlp"),
    ),
    "seasonal": (70, ("moving_average", "exponential_smoothing", "lstm", "cnn_lstm", "mlp")),
}
#: Scenario -> forecasters the stochastic program samples around (``sampler="forecast"``;
#: "none" is its default, ``sampler="process"``): it solves 4 futures a slot, so ``seasonal``
#: (70 drugs x 52 slots) plays fewer.
SAA_FORECASTERS: dict[str, tuple[str, ...]] = {
    "pharma": (
        "none",
        "naive",
        "moving_average",
        "exponential_smoothing",
        "lstm",
        "cnn_lstm",
        "mlp",
    ),
    "seasonal": ("none", "moving_average", "lstm"),
}
#: The shipped ``dqn-paper-70``'s recipe (its checkpoint's config), the DQN agents' budget.
DQN_RECIPE = {"learning_rate": 1e-3, "hidden": 128, "num_envs": 8}
DQN_STEPS = 1_000_000
#: Every forecaster the rules are played with (fitted ones from stage 1).
ALL_FORECASTERS = ("naive", "moving_average", "exponential_smoothing", "lstm", "cnn_lstm", "mlp")
FITTED = {"exponential_smoothing": ".json", "lstm": ".pt", "cnn_lstm": ".pt", "mlp": ".pt"}
#: The other "business" the transfer-learned MLP is pretrained on.
TRANSFER_SOURCE = {"pharma": "seasonal", "seasonal": "pharma"}
#: Training series drawn per synthetic scenario (episodes of the process on training seeds).
FIT_EPISODES = 8


def variants(scenario: str, only: list[str] | None = None) -> tuple[str, ...]:
    """The agents' forecasters for ``scenario``, ``"none"`` (the control) first; ``only``: the
    subset named by ``--forecasters`` (None: all)."""
    every = ("none", *SCENARIOS[scenario][1])
    return every if only is None else tuple(f for f in every if f in only)


def scenario_kwargs(scenario: str, quick: bool) -> dict[str, Any]:
    n, _ = SCENARIOS[scenario]
    kw: dict[str, Any] = {"n_drugs": 4 if quick and scenario == "seasonal" else n}
    if quick:
        kw["horizon"] = 20
    return kw


def forecaster_path(out: Path, scenario: str, name: str) -> Path | None:
    """Where stage 1 saved ``name`` for ``scenario`` (None: a forecaster without fitting)."""
    suffix = FITTED.get(name)
    return None if suffix is None else out / "forecasters" / f"{scenario}-{name}{suffix}"


def forecaster_spec(out: Path, scenario: str, name: str) -> str:
    path = forecaster_path(out, scenario, name)
    return name if path is None else str(path.resolve())


# ----------------------------------------------------------------------------------- fit
def fit(out: Path, scenarios: list[str], quick: bool) -> None:
    neural = {"epochs": 3} if quick else {}
    for scenario in scenarios:
        kw = scenario_kwargs(scenario, quick)
        series = training_series(scenario, episodes=FIT_EPISODES, **kw)
        for name in FITTED:
            path = forecaster_path(out, scenario, name)
            if path.exists():
                continue
            start = time.perf_counter()
            path.parent.mkdir(parents=True, exist_ok=True)
            if name == "exponential_smoothing":
                model = fit_forecaster(name, scenario, episodes=FIT_EPISODES, **kw)
            elif name == "mlp":
                source = TRANSFER_SOURCE[scenario]
                other = training_series(
                    source, episodes=FIT_EPISODES, **scenario_kwargs(source, quick)
                )
                model = MLPForecaster(progress=False, **neural).pretrain(other)
                model.fine_tune(series, freeze=2)
            else:
                model = FORECASTERS[name](progress=False, **neural).fit(series)
            model.save(path)
            print(f"fit {scenario} {name}: {time.perf_counter() - start:.1f} s -> {path.name}")


# ----------------------------------------------------------------------------------- train
def run_dir(out: Path, scenario: str, forecaster: str, seed: int, algo: str = "ppo") -> Path:
    runs = "runs" if algo == "ppo" else f"runs-{algo}"  # PPO's folders kept from before DQN
    return out / runs / scenario / forecaster / f"seed{seed}"


def train_command(
    out: Path,
    scenario: str,
    forecaster: str,
    seed: int,
    steps: int,
    quick: bool,
    algo: str = "ppo",
) -> list[str]:
    kw = scenario_kwargs(scenario, quick)
    cmd = [
        sys.executable, "-m", "druginv_gym.cli", "train", algo,
        "--scenario", scenario, "--n-drugs", str(kw["n_drugs"]),
        "--total-steps", str(steps), "--seed", str(seed),
        "--logdir", str(run_dir(out, scenario, forecaster, seed, algo)),
    ]  # fmt: skip
    if "horizon" in kw:
        cmd += ["--horizon", str(kw["horizon"])]
    if forecaster != "none":
        cmd += ["--forecaster", forecaster_spec(out, scenario, forecaster)]
    if algo == "dqn":
        cmd += ["--num-envs", str(4 if quick else DQN_RECIPE["num_envs"])]
        cmd += [a for k in ("learning_rate", "hidden") for a in ("--set", f"{k}={DQN_RECIPE[k]}")]
    elif quick:
        cmd += ["--num-envs", "4"]
    if quick:
        cmd += ["--set", "eval_every=1", "--set", "eval_episodes=1"]
    return cmd


def train(
    out: Path,
    scenarios: list[str],
    seeds: list[int],
    steps: dict[str, int],
    jobs: int,
    quick: bool,
    only: list[str] | None = None,
) -> None:
    """Every run of every algorithm in ``steps`` (algorithm -> its budget) not yet done, with
    the forecasters in ``only`` (None: all)."""
    work = []
    for algo in steps:
        for scenario in scenarios:
            for forecaster in variants(scenario, only):
                for seed in seeds:
                    done = run_dir(out, scenario, forecaster, seed, algo) / "done.json"
                    if not done.exists():
                        work.append((algo, scenario, forecaster, seed, done))
    print(f"train: {len(work)} runs to do ({', '.join(steps)}), {jobs} at a time", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CI": "true"}

    def one(item: tuple[str, str, str, int, Path]) -> None:
        algo, scenario, forecaster, seed, done = item
        cmd = train_command(out, scenario, forecaster, seed, steps[algo], quick, algo)
        done.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(done.parent / "train.log", "w") as log:
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        wall = time.perf_counter() - start
        what = f"{algo} {scenario} {forecaster} seed {seed}"
        if rc != 0:
            print(f"FAILED {what} (see {done.parent}/train.log)", flush=True)
            return
        write_atomic(done, json.dumps({"steps": steps[algo], "wall_s": wall}) + "\n")
        print(f"trained {what}: {wall:.0f} s", flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, work))


# ----------------------------------------------------------------------------------- evaluate
def forecast_errors(spec: BenchmarkSpec, forecaster: Any, episodes: int) -> dict[str, float]:
    """One-slot-ahead errors on the held-out episodes, as ``ForecastObservation`` forecasts
    (the demand seen so far this episode, the nominal mean before ``min_history`` slots)."""
    env = spec.make_env()
    mean = np.asarray(spec.config.demand_mean, dtype=np.float64)
    need = max(int(getattr(forecaster, "min_history", 1)), 1)
    actual, pred = [], []
    for k in range(episodes):
        env.reset(seed=spec.seed + k)
        demand = env.unwrapped.exogenous.demand  # (T, N), read after the episode is fixed
        for t in range(demand.shape[0]):
            hist = demand[:t]
            if len(hist) < need:
                hist = np.vstack([np.broadcast_to(mean, (need - len(hist), len(mean))), hist])
            pred.append(np.asarray(forecaster.predict(hist.T, 1))[:, 0])
            actual.append(demand[t])
    a, p = np.concatenate(actual), np.concatenate(pred)
    return {"mae": mae(a, p), "rmse": rmse(a, p), "smape": smape(a, p)}


def _play(env: Any, policy: Any, spec: BenchmarkSpec) -> dict[str, float]:
    df = druginv_gym.evaluate(env, policy, spec.episodes, spec.seed)
    return {
        "cost": float(df.total_cost.mean()),
        "cost_sd": float(df.total_cost.std(ddof=1)) if len(df) > 1 else 0.0,
        "shortage_rate": float(df.shortage_rate.mean()),
        "unexpected_rate": float(df.unexpected_rate.mean()),
    }


class _Table:
    """The rows of ``value.csv`` and ``forecast_error.csv``, written after each new row (a
    stopped run resumes where it stopped)."""

    def __init__(self, out: Path) -> None:
        self.rows_path, self.err_path = out / "value.csv", out / "forecast_error.csv"
        self.rows = self._read(self.rows_path)
        self.errs = self._read(self.err_path)
        self.have = {(r["scenario"], r["policy"], r["forecaster"], r["seed"]) for r in self.rows}

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]]:
        return pd.read_csv(path, dtype={"seed": str}).to_dict("records") if path.exists() else []

    def add(self, scenario: str, policy: str, forecaster: str, seed: str, play: Any) -> None:
        key = (scenario, policy, forecaster, seed)
        if key in self.have:
            return
        start = time.perf_counter()
        row = dict(zip(("scenario", "policy", "forecaster", "seed"), key, strict=True))
        self.rows.append({**row, **play(), "wall_s": time.perf_counter() - start})
        self.have.add(key)
        write_csv_atomic(pd.DataFrame(self.rows), self.rows_path)
        cost = self.rows[-1]["cost"]
        print(f"{scenario:9s} {policy:10s} {forecaster:22s} {seed:4s} {cost:,.0f}", flush=True)

    def add_errors(self, scenario: str, forecaster: str, errors: Any) -> None:
        if not any(e["scenario"] == scenario and e["forecaster"] == forecaster for e in self.errs):
            self.errs.append({"scenario": scenario, "forecaster": forecaster, **errors()})
            write_csv_atomic(pd.DataFrame(self.errs), self.err_path)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What ``evaluate`` plays besides the references: the agents of ``algos`` with the
    forecasters in ``only`` (None: all), and the rules (``rules`` "all": every forecast-driven
    rule; "base-stock": only base-stock without a forecast)."""

    algos: tuple[str, ...] = ("ppo",)
    rules: str = "all"
    only: list[str] | None = None


def evaluate_scenario(
    out: Path,
    table: _Table,
    scenario: str,
    seeds: list[int],
    episodes: int,
    quick: bool,
    pick: Selection = Selection(),
) -> None:
    """Every row of ``scenario`` not yet in ``table``: the references, the rules and agents
    that ``pick`` selects."""
    import druginv_agents

    from druginv_gym.baselines import MPC, StochasticMPC, tune_base_stock
    from druginv_gym.benchmark import make_policy
    from druginv_gym.registry import MPC_WINDOW, SAA_SCENARIOS

    algos, rules, only = pick.algos, pick.rules, pick.only

    spec = BenchmarkSpec(
        scenario=scenario,
        episodes=episodes,
        policies=("hindsight-optimal",),
        tune_episodes=4,
        **scenario_kwargs(scenario, quick),
    )
    env, train_env = spec.make_env(), spec.make_env(held_out=False)

    oracle: list[Any] = []

    def replayed() -> dict[str, float]:
        oracle[:] = make_policy("hindsight-optimal", spec, {})[:2]
        return _play(*oracle, spec)

    def bound() -> dict[str, float]:
        if not oracle:
            replayed()
        objectives = [s.objective for s in oracle[1].solutions[-spec.episodes :]]
        return {"cost": float(np.mean(objectives)), "cost_sd": float(np.std(objectives, ddof=1))}

    def base_stock(**fixed: Any) -> dict[str, float]:
        rule, _ = tune_base_stock(train_env, n_episodes=spec.tune_episodes, progress=False, **fixed)
        return {**_play(env, rule, spec), "level": rule.level}

    def mpc(forecaster: Any) -> dict[str, float]:
        window = 4 if quick else MPC_WINDOW
        return _play(env, MPC(env, window, forecaster), spec)

    def saa(forecaster: str) -> dict[str, float]:
        window = 4 if quick else MPC_WINDOW
        if forecaster == "none":
            policy = StochasticMPC(env, SAA_SCENARIOS, window)
        else:
            given = forecaster_spec(out, scenario, forecaster)
            policy = StochasticMPC(env, SAA_SCENARIOS, window, "forecast", given)
        return _play(env, policy, spec)

    def agent(path: Path) -> dict[str, float]:
        a = druginv_agents.load(path)
        return _play(spec.make_env(a.env_id, **a.observation_kwargs), a, spec)

    # The QP's objective is the lower bound; its plan replayed through the env can cost more
    # where the relaxation holds stock back (docs/hindsight.md): both are reported.
    table.add(scenario, "hindsight plan", "hindsight", "-", replayed)
    table.add(scenario, "optimum", "hindsight", "-", bound)
    for name in ALL_FORECASTERS if rules == "all" else variants(scenario, only):
        if name == "none":
            continue
        model = make_forecaster(forecaster_spec(out, scenario, name))
        table.add_errors(scenario, name, functools.partial(forecast_errors, spec, model, episodes))
    table.add(scenario, "base-stock", "none", "-", base_stock)
    if rules == "all":
        _forecast_rules(table, scenario, env, base_stock, mpc, saa, out)
    for algo in algos:
        for forecaster in variants(scenario, only):
            for seed in seeds:
                run = run_dir(out, scenario, forecaster, seed, algo)
                if (run / "done.json").exists():  # a run still training has a best.pt already
                    table.add(
                        scenario,
                        algo,
                        forecaster,
                        str(seed),
                        functools.partial(agent, run / "best.pt"),
                    )


def _forecast_rules(
    table: _Table, scenario: str, env: Any, base_stock: Any, mpc: Any, saa: Any, out: Path
) -> None:
    """Base-stock and MPC with every forecast (and MPC with the true future), the stochastic
    program around each of ``SAA_FORECASTERS``."""
    from druginv_gym.baselines import TrueFuture

    for name in ALL_FORECASTERS:
        given = forecaster_spec(out, scenario, name)
        table.add(
            scenario, "base-stock", name, "-", functools.partial(base_stock, forecaster=given)
        )
    table.add(scenario, "mpc", "true future", "-", functools.partial(mpc, TrueFuture(env)))
    for name in ALL_FORECASTERS:
        given = forecaster_spec(out, scenario, name)
        table.add(scenario, "mpc", name, "-", functools.partial(mpc, given))
    for name in SAA_FORECASTERS[scenario]:
        table.add(scenario, "saa", name, "-", functools.partial(saa, name))


def evaluate(
    out: Path,
    scenarios: list[str],
    seeds: list[int],
    episodes: int,
    quick: bool,
    pick: Selection = Selection(),
) -> None:
    known = out / "episodes.json"
    if known.exists() and json.loads(known.read_text())["episodes"] != episodes:
        raise SystemExit(f"{out} holds results of other --episodes; use another --out")
    write_atomic(known, json.dumps({"episodes": episodes, "first_seed": 0}) + "\n")
    table = _Table(out)
    for scenario in scenarios:
        evaluate_scenario(out, table, scenario, seeds, episodes, quick, pick)


# ----------------------------------------------------------------------------------- report
def report(out: Path) -> None:
    rows = pd.read_csv(out / "value.csv", dtype={"seed": str})
    errs = pd.read_csv(out / "forecast_error.csv")
    lines = [f"# The value of a demand forecast\n\nMachine: {machine()}.\n"]
    for scenario, table in rows.groupby("scenario", sort=False):
        opt = float(table[table.policy == "optimum"].cost.iloc[0])
        agg = (
            table.groupby(["policy", "forecaster"], sort=False)
            .agg(
                cost=("cost", "mean"),
                seed_sd=("cost", lambda c: float(np.std(c, ddof=1)) if len(c) > 1 else 0.0),
                seeds=("cost", "size"),
                shortage=("shortage_rate", "mean"),
                unexpected=("unexpected_rate", "mean"),
            )
            .reset_index()
        )
        agg = agg.merge(
            errs[errs.scenario == scenario].drop(columns="scenario"), on="forecaster", how="left"
        )
        agg["gap"] = 100 * (agg.cost / opt - 1)
        agg = agg.sort_values("cost", kind="stable")
        lines.append(f"\n## {scenario}\n")
        lines.append(
            "| policy | forecast | cost | seed sd | vs optimum | shortage | unexpected "
            "| forecast MAE | RMSE | SMAPE |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in agg.itertuples():
            sd = f"{r.seed_sd:,.0f} ({r.seeds})" if r.seeds > 1 else ""
            err = " | " if np.isnan(r.mae) else f"{r.mae:.2f} | {r.rmse:.2f}"
            sm = "" if np.isnan(r.smape) else f"{r.smape:.1f} %"
            short = "" if np.isnan(r.shortage) else f"{100 * r.shortage:.2f} %"
            unexp = "" if np.isnan(r.unexpected) else f"{100 * r.unexpected:.2f} %"
            lines.append(
                f"| {r.policy} | {r.forecaster} | {r.cost:,.0f} | {sd} | {r.gap:+.2f} % | "
                f"{short} | {unexp} | {err} | {sm} |"
            )
    write_atomic(out / "value.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(
        1, rows.scenario.nunique(), figsize=(6 * rows.scenario.nunique(), 4.5), squeeze=False
    )
    for ax, (scenario, table) in zip(axes[0], rows.groupby("scenario", sort=False), strict=False):
        mean = table.groupby(["policy", "forecaster"]).cost.mean().reset_index()
        mean = mean.merge(errs[errs.scenario == scenario], on="forecaster")
        for policy, part in mean.groupby("policy"):
            ax.plot(part.mae, part.cost, "o", label=policy)
            for r in part.itertuples():
                ax.annotate(r.forecaster, (r.mae, r.cost), fontsize=7, alpha=0.7)
        references = table[table.forecaster.isin(["none", "true future", "hindsight"])]
        references = references[references.policy != "hindsight plan"]
        for (policy, forecaster), part in references.groupby(["policy", "forecaster"]):
            what = "no forecast" if forecaster == "none" else forecaster
            ax.axhline(part.cost.mean(), ls="--", lw=0.8, color="grey")
            ax.annotate(f"{policy}, {what}", (ax.get_xlim()[0], part.cost.mean()), fontsize=7)
        ax.set_xlabel("one-slot-ahead forecast MAE (units), held-out episodes")
        ax.set_ylabel("mean episode cost (USD)")
        ax.set_title(scenario)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cost_vs_error.png", dpi=120)
    print(f"wrote {out / 'cost_vs_error.png'}")


# ----------------------------------------------------------------------------------- ship
def ship(
    out: Path,
    scenarios: list[str],
    dest: Path,
    algos: tuple[str, ...] = ("ppo",),
    only: list[str] | None = None,
) -> None:
    """Seed 0 of every trained variant as ``<algo>-<scenario>-<N>[-<forecaster>]``, with its
    fitted forecaster under ``forecasters/`` (named relative to the agent), and the costs
    they are published with (``forecast_agents.csv``: held-out episodes and their cost, which
    the tests reproduce)."""
    from druginv_agents.checkpoint import export_policy, load_checkpoint, save_checkpoint

    (dest / "forecasters").mkdir(parents=True, exist_ok=True)
    rows = pd.read_csv(out / "value.csv", dtype={"seed": str})
    episodes = json.loads((out / "episodes.json").read_text())["episodes"]
    published = []
    for algo, scenario in ((a, s) for a in algos for s in scenarios):
        n = SCENARIOS[scenario][0]
        for forecaster in variants(scenario, only):
            best = run_dir(out, scenario, forecaster, 0, algo) / "best.pt"
            name = f"{algo}-{scenario}-{n}" + ("" if forecaster == "none" else f"-{forecaster}")
            target = dest / f"{name}.pt"
            export_policy(best, target)
            path = forecaster_path(out, scenario, forecaster)
            if path is not None:
                shutil.copyfile(path, dest / "forecasters" / path.name)
                data = load_checkpoint(target)
                data["meta"]["env_kwargs"]["forecaster"] = f"forecasters/{path.name}"
                data["meta"]["config"]["env_kwargs"]["forecaster"] = f"forecasters/{path.name}"
                save_checkpoint(target, {"model": data["model"], "meta": data["meta"]})
            row = rows[(rows.scenario == scenario) & (rows.policy == algo)]
            row = row[(row.forecaster == forecaster) & (row.seed == "0")]
            published.append(
                {
                    "name": name,
                    "algo": algo,
                    "scenario": scenario,
                    "n_drugs": n,
                    "forecaster": forecaster,
                    "episodes": episodes,
                    "first_seed": 0,
                    "cost": float(row.cost.iloc[0]),
                }
            )
            print(f"shipped {target.name}")
    index = dest / "forecast_agents.csv"
    kept = pd.read_csv(index) if index.exists() else pd.DataFrame(columns=["name", "scenario"])
    if "algo" not in kept:  # an index from before DQN: its agents are PPO
        kept.insert(1, "algo", "ppo")
    kept = kept[~kept.name.isin([row["name"] for row in published])]  # the others stay listed
    write_csv_atomic(pd.concat([kept, pd.DataFrame(published)], ignore_index=True), index)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "stage",
        nargs="?",
        default="all",
        choices=["fit", "train", "evaluate", "report", "all", "ship"],
        help="what to run (default: all but ship)",
    )
    ap.add_argument("--out", type=Path, default=Path("results/forecast"))
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds")
    ap.add_argument("--steps", type=int, default=300_000, help="PPO env steps per run")
    ap.add_argument(
        "--algos",
        nargs="+",
        default=["ppo"],
        choices=["ppo", "dqn"],
        help="agents to train, evaluate and ship (default: ppo)",
    )
    ap.add_argument("--dqn-steps", type=int, default=DQN_STEPS, help="DQN drug decisions per run")
    ap.add_argument(
        "--forecasters",
        nargs="+",
        choices=["none", *ALL_FORECASTERS],
        help="train, evaluate and ship only the agents with these forecasters ('none': the "
        "control; default: every one of the scenario's)",
    )
    ap.add_argument(
        "--rules",
        default="all",
        choices=["all", "base-stock"],
        help="evaluate: every forecast-driven rule, or only the references (optimum, "
        "base-stock without a forecast) beside the agents (default: all)",
    )
    ap.add_argument("--episodes", type=int, default=10, help="held-out episodes")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel PPO runs")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    ap.add_argument(
        "--dest", type=Path, default=Path("agents/druginv_agents/pretrained"), help="ship: where"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.dqn_steps, args.episodes, args.seeds = 160, 640, 2, args.seeds[:1]
    algos = tuple(dict.fromkeys(args.algos))
    steps = {"ppo": args.steps, "dqn": args.dqn_steps}
    args.out.mkdir(parents=True, exist_ok=True)
    stages = ["fit", "train", "evaluate", "report"] if args.stage == "all" else [args.stage]
    for stage in stages:
        if stage == "fit":
            fit(args.out, args.scenarios, args.quick)
        elif stage == "train":
            budgets = {algo: steps[algo] for algo in algos}
            only = args.forecasters
            train(args.out, args.scenarios, args.seeds, budgets, args.jobs, args.quick, only)
        elif stage == "evaluate":
            pick = Selection(algos, args.rules, args.forecasters)
            evaluate(args.out, args.scenarios, args.seeds, args.episodes, args.quick, pick)
        elif stage == "report":
            report(args.out)
        else:
            ship(args.out, args.scenarios, args.dest, algos, args.forecasters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
