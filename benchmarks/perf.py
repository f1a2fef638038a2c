"""Environment throughput against a peer, the native vector env's curve, agents' throughput.

Measures, in one process and one run, random-action steps per second of

* ``gym.make("DrugRefill-v0")`` (default wrappers) and its raw ``.unwrapped`` env, next to the
  peer ``gym.make("GymInvMgmt/Serial-v0")`` (PyPI ``gym-invmgmt``, a Gymnasium inventory env
  with 3 nodes; in the ``bench`` extra), timed in interleaved rounds, with the ratio per round;
* the native vector env ``gym.make_vec("DrugRefill-v0", num_envs=k)`` for several ``k``,
* a ``SyncVectorEnv`` of single envs at the same ``k`` (the generic alternative), with the
  native/Sync ratio on the same total work,
* bounds for the native vector env at 256 envs and more (with numba): a compiled loop that only
  moves the memory such a step must move (a throughput no implementation of the step can beat
  on the machine), alone and with the exogenous traces' draws at reset spread over an episode,
* the native vector env's curve over ``--curve-envs`` (at ``--n-drugs``) and over
  ``--curve-drugs`` (at 256 envs), and its memory per env (``tracemalloc`` peak of creating
  and resetting the vector env, over ``num_envs``),
* PPO and DQN training throughput (env steps per second, learning included) at ``--n-drugs``.

Each DrugRefill row is measured with every ``--backends`` of the dynamics (``numpy``, and
``numba`` when the ``fast`` extra is installed), side by side in the same run; the curve and the
agents use the default backend. Drug-steps per second = env steps x drugs. Vector timings run
whole episodes, each with its autoreset call (where the next episodes' traces are drawn), and
count the slots played; single envs reset at episode ends inside the timing too. Every figure is
min/median/max over repeats.
Actions are pre-sampled so the policy costs nothing. Writes ``perf.csv``,
``single_vs_peer.csv``, ``curve.csv``, ``agents.csv`` and ``perf_curve.png`` to ``--out``.

Usage::

    python benchmarks/perf.py                      # default (a few minutes on 2 cores)
    python benchmarks/perf.py --quick              # seconds: checks that it runs
    python benchmarks/perf.py --n-drugs 70 --num-envs 1 64 1024 --repeats 5 --out results/perf
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import druginv_gym  # noqa: F401  (registers the ids)
from druginv_gym import dynamics
from druginv_gym.exogenous import sample_exogenous
from druginv_gym.observation import DRUG_FEATURES, GLOBAL_FEATURES
from druginv_gym.scenarios import make_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pyplot, write_csv_atomic

PEER = "GymInvMgmt/Serial-v0"
HORIZON = 30  # slots per episode in every DrugRefill timing


def _peer_env():
    """The peer env, or None (with a note) when gym-invmgmt is not installed."""
    try:
        import gym_invmgmt  # noqa: F401  (registers its ids)
    except ImportError:
        print(f"gym-invmgmt not installed (pip install 'druginv-gym[bench]'): no {PEER} row")
        return None
    return gym.make(PEER)


def _time_steps(env, actions, vector: bool) -> float:
    """Seconds to play ``actions`` (resetting at episode ends for single envs)."""
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        out = env.step(a)
        if not vector and (out[2] or out[3]):
            env.reset()
    return time.perf_counter() - start


def _make(kind: str, n_drugs: int, num_envs: int, horizon: int = HORIZON):
    """The env of one table row (``None`` for the peer when gym-invmgmt is missing)."""
    if kind == "peer":
        env = _peer_env()
        if env is None:
            return {}
    elif kind == "single":
        env = gym.make("DrugRefill-v0", n_drugs=n_drugs, horizon=horizon)
    elif kind == "single-unwrapped":
        env = gym.make("DrugRefill-v0", n_drugs=n_drugs, horizon=horizon).unwrapped
    elif kind == "native-vector":
        env = gym.make_vec("DrugRefill-v0", num_envs=num_envs, n_drugs=n_drugs, horizon=horizon)
    elif kind == "sync-vector":
        env = gym.make_vec(
            "DrugRefill-v0",
            num_envs=num_envs,
            vectorization_mode="sync",
            n_drugs=n_drugs,
            horizon=horizon,
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return env


def _row(kind: str, backend: str, n_drugs: int, batch: int, rates: np.ndarray) -> dict:
    return {
        "kind": kind,
        "backend": "" if kind == "peer" else backend,
        "n_drugs": n_drugs if kind != "peer" else 3,
        "num_envs": batch,
        "steps_per_s_min": rates.min(),
        "steps_per_s_median": float(np.median(rates)),
        "steps_per_s_max": rates.max(),
        "drug_steps_per_s_median": float(np.median(rates)) * (n_drugs if kind != "peer" else 3),
    }


def measure(
    kind: str, n_drugs: int, num_envs: int, steps: int, repeats: int, backend: str | None = None
) -> dict:
    backend = backend or dynamics.get_backend()
    dynamics.set_backend(backend)
    env = _make(kind, n_drugs, num_envs)
    if env is None:
        return {}
    vector = kind.endswith("vector")
    calls = steps
    if vector:
        # Whole episodes, each with the call that autoresets it (NEXT_STEP: the call after the
        # last slot draws the next traces and plays nothing): the reset's cost is in the time,
        # only the HORIZON slots played count as steps.
        episodes = -(-steps // HORIZON)
        steps, calls = episodes * HORIZON, episodes * (HORIZON + 1)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(calls)]
    _time_steps(env, actions[: HORIZON + 1 if vector else max(1, calls // 10)], vector)  # warm-up
    times = [_time_steps(env, actions, vector) for _ in range(repeats)]
    env.close()
    batch = num_envs if vector else 1
    return _row(kind, backend, n_drugs, batch, np.array([steps * batch / t for t in times]))


def single_vs_peer(
    n_drugs: int, steps: int, repeats: int, backends: list[str]
) -> tuple[list[dict], list[dict]]:
    """The single-env rows and the peer's, timed in interleaved rounds (peer, then each single
    env on each backend, ``repeats`` times) so that a change of load on the shared machine hits
    both sides of a ratio alike. Returns the rows and, per backend, the ratio of
    ``DrugRefill-v0`` (default wrappers) to the peer in each round."""
    peer = _make("peer", n_drugs, 1)
    kinds = [("single", b) for b in backends] + [("single-unwrapped", b) for b in backends]
    envs = {key: _make(key[0], n_drugs, 1) for key in kinds}
    if peer is not None:
        envs[("peer", "")] = peer
    actions = {}
    for key, env in envs.items():
        env.action_space.seed(0)
        actions[key] = [env.action_space.sample() for _ in range(steps)]
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in envs}
    order = ([("peer", "")] if peer is not None else []) + kinds
    for r in range(repeats + 1):  # round 0 warms up (and compiles)
        for key in order:
            dynamics.set_backend(key[1] or dynamics.get_backend())
            seconds = _time_steps(envs[key], actions[key], vector=False)
            if r:
                rates[key].append(steps / seconds)
    for env in envs.values():
        env.close()
    rows = [
        _row(kind, backend, n_drugs, 1, np.array(rates[(kind, backend)])) for kind, backend in order
    ]
    ratios = []
    if peer is not None:
        for b in backends:
            per_round = np.array(rates[("single", b)]) / np.array(rates[("peer", "")])
            ratios.append(
                {
                    "backend": b,
                    "ratio_min": per_round.min(),
                    "ratio_median": float(np.median(per_round)),
                    "ratio_max": per_round.max(),
                }
            )
    return rows, ratios


def memory_floor(
    n_drugs: int, num_envs: int, repeats: int, horizon: int = HORIZON, info_rows: int = 8
) -> list[dict]:
    """Bounds no step of this size can beat on this machine, as two rows:

    * ``memory-floor``: a compiled loop that only moves the memory a box step must move (reads
      the action, the state, the arrival ring's rows and the trace's rows; writes the
      observation, the ``info_rows`` per-drug info arrays (8 for the full info, 0 for the
      summary info), the new state and a ring row) with trivial arithmetic;
    * ``floor-with-traces``: that loop plus drawing the next episodes' exogenous traces on the
      same core (the vector env's autoreset without ``prefetch``, timed here with the same
      draws), spread over the ``horizon`` steps of an episode.

    Needs numba; ``[]`` without it."""
    if not dynamics.numba_available():
        return []
    kernel = dynamics.compiled(_touch)
    config = make_scenario("paper", n_drugs=n_drugs, horizon=horizon)
    rng = np.random.default_rng(0)
    b, n, big_l = num_envs, n_drugs, config.max_shelf_life
    frac = rng.random((b, n), dtype=np.float32)
    arrived, left = rng.random((b, n)), rng.random((b, n))
    ring = rng.random((b, big_l, n))
    demand, price, rate = (rng.random((b, horizon, n)) for _ in range(3))
    obs_dim = len(DRUG_FEATURES) * n + len(GLOBAL_FEATURES)
    rates = []
    for r in range(repeats * 10 + 1):
        start = time.perf_counter()
        block = np.empty((info_rows, b, n))
        state = np.empty((2, b, n))
        obs = np.empty((b, obs_dim), dtype=np.float32)
        kernel(frac, arrived, left, ring, demand, price, rate, block, state, obs, r % (horizon - 1))
        if r:
            rates.append(b / (time.perf_counter() - start))
    draws = []
    for _ in range(repeats):
        start = time.perf_counter()
        traces = sample_exogenous(config, rng, b)
        _ = traces["base_price"] + traces["premium"]  # the price array the core keeps
        draws.append(time.perf_counter() - start)
    floor = np.array(rates)
    per_step = float(np.median(draws)) / horizon  # seconds of drawing per env step
    with_traces = b / (b / floor + per_step)
    return [
        _row("memory-floor", "numba", n_drugs, b, floor),
        _row("floor-with-traces", "numba", n_drugs, b, with_traces),
    ]


def _touch(frac, arrived, left, ring, demand, price, rate, block, state, obs, t):
    """:func:`memory_floor`'s loop (no integer division inside: it would cost more than the
    memory traffic it is there to measure)."""
    n_env, n = frac.shape
    big_l = ring.shape[1]
    nf = (obs.shape[1] - 3) // n
    row = t % big_l
    source = np.empty(n, dtype=np.int64)  # ring rows read, spread as shelf lives spread them
    for i in range(n):
        source[i] = (t + i) % big_l
    for b in range(n_env):
        for i in range(n):
            x = frac[b, i] + arrived[b, i] + left[b, i] + ring[b, source[i], i]
            x += demand[b, t, i] + price[b, t, i] + rate[b, t, i]
            ring[b, row, i] = x
            state[0, b, i] = x
            state[1, b, i] = x
            for k in range(block.shape[0]):
                block[k, b, i] = x
            y = price[b, t + 1, i] + rate[b, t + 1, i]
            for f in range(nf):
                obs[b, i * nf + f] = y
        for j in range(n * nf, obs.shape[1]):
            obs[b, j] = 0.0


def memory_per_env(n_drugs: int, num_envs: int, **env_kwargs) -> float:
    """Bytes per env allocated to create, reset and step a native vector env (tracemalloc
    peak), the next episodes' traces included where they are prefetched (``close`` waits for
    them before the peak is read); ``env_kwargs`` go to ``gym.make_vec``."""
    tracemalloc.start()
    env = gym.make_vec("DrugRefill-v0", num_envs=num_envs, n_drugs=n_drugs, **env_kwargs)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / num_envs


def curve(n_drugs: int, envs: list[int], drugs: list[int], repeats: int, budget: int) -> list[dict]:
    """Native vector env throughput over num_envs and n_drugs (about ``budget`` drug-steps per
    timing)."""
    rows = []
    cells = [(n_drugs, k) for k in envs] + [(n, 256) for n in drugs if n != n_drugs]
    for i, (n, k) in enumerate(cells, 1):
        steps = int(np.clip(budget // (n * k), 10, 300))
        row = measure("native-vector", n, k, steps, repeats)
        row["bytes_per_env"] = memory_per_env(n, min(k, 1024))
        rows.append(row)
        print(
            f"[curve {i}/{len(cells)}] n_drugs={n:<5} num_envs={k:<5} "
            f"{row['drug_steps_per_s_median']:>14,.0f} drug-steps/s  "
            f"{row['bytes_per_env'] / 1024:,.1f} KiB/env",
            flush=True,
        )
    return rows


def agents_throughput(n_drugs: int, quick: bool) -> list[dict]:
    """PPO and DQN training env-steps per second, learning included (one short run each)."""
    import tempfile

    try:
        from druginv_agents import dqn, ppo
    except ImportError as exc:
        print(f"agents not installed ({exc}): no training throughput")
        return []
    rows = []
    kw = {"scenario": "paper", "n_drugs": n_drugs}
    runs = [
        ("ppo", ppo.train, ppo.PPOConfig(env_kwargs=kw, total_steps=(2 if quick else 8) * 32 * 30)),
        (
            "dqn",
            dqn.train,
            dqn.DQNConfig(
                env_kwargs=kw,
                total_steps=(1 if quick else 3) * 8 * n_drugs * 30,
                learning_starts=1000,
                eval_every=1000,
            ),
        ),
    ]
    for name, train, cfg in runs:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(cfg, logdir=tmp, progress=False)
            wall = time.perf_counter() - start
        unit = "slots" if name == "ppo" else "drug decisions"
        rows.append(
            {
                "agent": name,
                "n_drugs": n_drugs,
                "steps": cfg.total_steps,
                "unit": unit,
                "wall_s": wall,
                "steps_per_s": cfg.total_steps / wall,
            }
        )
        print(
            f"[agents] {name}: {cfg.total_steps / wall:,.0f} {unit}/s "
            f"({cfg.total_steps:,} in {wall:.1f} s, learning and validation included)"
        )
    return rows


def plot_curve(rows: list[dict], n_drugs: int, path: Path) -> None:
    plt = pyplot()
    if plt is None or not rows:
        return
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    by_envs = df[df.n_drugs == n_drugs].sort_values("num_envs")
    by_drugs = df[df.num_envs == 256].sort_values("n_drugs")
    for ax, d, x, label in (
        (axes[0], by_envs, "num_envs", f"num_envs ({n_drugs} drugs)"),
        (axes[1], by_drugs, "n_drugs", "n_drugs (256 envs)"),
    ):
        ax.plot(d[x], d.drug_steps_per_s_median / 1e6, marker="o")
        ax.fill_between(
            d[x],
            d.steps_per_s_min * d.n_drugs / 1e6,
            d.steps_per_s_max * d.n_drugs / 1e6,
            alpha=0.3,
        )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("million drug-steps / s")
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Native vector env throughput, whole episodes with their resets (median, min-max band)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-drugs", type=int, default=70)
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 16, 256, 1024])
    p.add_argument("--steps", type=int, default=300, help="env steps per timing")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sync-max-envs", type=int, default=64, help="largest k for SyncVectorEnv")
    p.add_argument("--curve-envs", type=int, nargs="*", default=[1, 8, 64, 256, 1024, 4096, 8192])
    p.add_argument("--curve-drugs", type=int, nargs="*", default=[10, 30, 70, 200, 500, 1000])
    p.add_argument(
        "--backends",
        nargs="+",
        choices=list(dynamics.BACKENDS),
        default=["numpy", "numba"] if dynamics.numba_available() else ["numpy"],
        help="dynamics backends to measure side by side (default: every one installed)",
    )
    p.add_argument("--no-agents", action="store_true", help="skip the training throughput")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument("--out", type=Path, default=Path("results/perf"))
    args = p.parse_args(argv)
    if args.n_drugs < 1 or args.steps < 1 or args.repeats < 1 or min(args.num_envs) < 1:
        p.error("--n-drugs, --steps, --repeats and --num-envs must be >= 1")
    budget = 3_000_000
    if args.quick:
        args.num_envs, args.steps, args.repeats, args.sync_max_envs = [1, 8], 30, 1, 8
        args.curve_envs, args.curve_drugs, budget = [1, 16], [5, 20], 20_000

    if "numba" in args.backends and not dynamics.numba_available():
        p.error('--backends numba needs numba: pip install "druginv-gym[fast]"')
    default_backend = dynamics.get_backend()
    rows, ratios = single_vs_peer(args.n_drugs, args.steps, args.repeats, args.backends)
    for row in rows:
        print(
            f"{row['kind']:>16} {row['backend']:<5} num_envs=1     "
            f"{row['steps_per_s_median']:>12,.0f} env-steps/s "
            f"{row['drug_steps_per_s_median']:>14,.0f} drug-steps/s",
            flush=True,
        )
    plan = []
    for backend in args.backends:
        for k in args.num_envs:
            plan.append(("native-vector", k, backend))
            if k <= args.sync_max_envs:
                plan.append(("sync-vector", k, backend))
    for i, (kind, k, backend) in enumerate(plan, 1):
        # Fewer steps for large batches keep every cell near the same wall time.
        steps = max(10, args.steps // max(1, k // 64)) if kind.endswith("vector") else args.steps
        row = measure(kind, args.n_drugs, k, steps, args.repeats, backend or None)
        if not row:
            continue
        rows.append(row)
        print(
            f"[{i}/{len(plan)}] {kind:>16} {backend:<5} num_envs={k:<5} "
            f"{row['steps_per_s_median']:>12,.0f} env-steps/s "
            f"{row['drug_steps_per_s_median']:>14,.0f} drug-steps/s",
            flush=True,
        )
    if "numba" in args.backends:
        for k in args.num_envs:
            if k >= 256 or args.quick:
                for row in memory_floor(args.n_drugs, k, args.repeats):
                    rows.append(row)
                    print(
                        f"{row['kind']:>17} num_envs={k:<5} "
                        f"{row['drug_steps_per_s_median']:>14,.0f} drug-steps/s (a bound)",
                        flush=True,
                    )
    dynamics.set_backend(default_backend)
    df = pd.DataFrame(rows)

    def ratio(a: pd.Series, b: pd.Series) -> str:
        med = a.steps_per_s_median / b.steps_per_s_median
        lo = a.steps_per_s_min / b.steps_per_s_max
        hi = a.steps_per_s_max / b.steps_per_s_min
        return f"median x{med:.2f} (worst x{lo:.2f}, best x{hi:.2f})"

    has_peer = (df.kind == "peer").any()
    for backend in args.backends:
        mine = df[df.backend == backend]
        single = mine[mine.kind == "single"].iloc[0]
        print(f"\n--- backend {backend}")
        if has_peer:
            peer = df[df.kind == "peer"].iloc[0]
            r = next(x for x in ratios if x["backend"] == backend)
            print(
                f"DrugRefill-v0 ({args.n_drugs} drugs) / {PEER}, env steps per second, per "
                f"interleaved round: median x{r['ratio_median']:.2f} (worst x{r['ratio_min']:.2f}"
                f", best x{r['ratio_max']:.2f}); drug-steps "
                f"x{single.drug_steps_per_s_median / peer.drug_steps_per_s_median:.1f}"
            )
        native = mine[mine.kind == "native-vector"].set_index("num_envs")
        sync = mine[mine.kind == "sync-vector"].set_index("num_envs")
        common = native.index.intersection(sync.index)
        if len(common):
            print("native / SyncVectorEnv speed-up (same num_envs, same total work):")
            for k in common:
                print(f"  num_envs={k:<5} {ratio(native.loc[k], sync.loc[k])}")
    if {"numpy", "numba"} <= set(args.backends):
        print("\nnumba / numpy backend, same kind and num_envs:")
        both = df[~df.kind.isin(["peer", "memory-floor", "floor-with-traces"])]
        for (kind, k), g in both.groupby(["kind", "num_envs"]):
            by = g.set_index("backend")
            print(f"  {kind:>16} num_envs={k:<5} {ratio(by.loc['numba'], by.loc['numpy'])}")
    print()
    curve_rows = curve(args.n_drugs, args.curve_envs, args.curve_drugs, args.repeats, budget)
    write_csv_atomic(pd.DataFrame(curve_rows), args.out / "curve.csv")
    plot_curve(curve_rows, args.n_drugs, args.out / "perf_curve.png")
    if not args.no_agents:
        agent_rows = agents_throughput(6 if args.quick else args.n_drugs, args.quick)
        write_csv_atomic(pd.DataFrame(agent_rows), args.out / "agents.csv")
    if ratios:
        write_csv_atomic(pd.DataFrame(ratios), args.out / "single_vs_peer.csv")
    path = args.out / "perf.csv"
    write_csv_atomic(df, path)
    print(f"\nwrote {path}  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
