"""A recipe that learns out of the box: Stable-Baselines3's PPO with its defaults, on the box id
as it is and through ``OrderUpToAction``, against over-provisioning and random actions.

    python benchmarks/recipe.py --drugs 10 70 --steps 20000 50000 --out results/recipe

For each size: SB3 PPO (``MlpPolicy``, SB3's default hyperparameters, seed 0, 8 envs from
SB3's ``make_vec_env`` on training seeds 1000+, observations and rewards normalised with
``VecNormalize``), trained for the given steps (one step budget per size, in order) on the
plain ``DrugRefill-v0`` and on ``OrderUpToAction(DrugRefill-v0)``; then every policy scored
greedily on held-out seeds 0..episodes-1 with ``druginv_gym.evaluate``. Writes ``recipe.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


def train_and_score(n_drugs: int, steps: int, wrap: bool, episodes: int) -> pd.DataFrame:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import druginv_gym
    from druginv_gym.wrappers import OrderUpToAction

    kw = {"n_drugs": n_drugs}
    wrapper = OrderUpToAction if wrap else None
    venv = make_vec_env("DrugRefill-v0", n_envs=8, env_kwargs=kw, seed=1000, wrapper_class=wrapper)
    venv = VecNormalize(venv, norm_obs=True, norm_reward=True)
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    venv.training = False
    env = gym.make("DrugRefill-v0", **kw)
    if wrap:
        env = OrderUpToAction(env)

    def act(obs: np.ndarray) -> np.ndarray:
        return model.predict(venv.normalize_obs(obs), deterministic=True)[0]

    scores = druginv_gym.evaluate(env, act, episodes, 0)
    scores["train_s"] = seconds
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drugs", type=int, nargs="+", default=[10, 70])
    parser.add_argument("--steps", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="5 drugs, 4,000 steps (tests)")
    parser.add_argument("--out", type=Path, default=None, help="also write recipe.csv there")
    args = parser.parse_args(argv)
    if args.quick:
        args.drugs, args.steps, args.episodes = [5], [4_000], 3
    if len(args.steps) != len(args.drugs):
        parser.error("--steps needs one budget per --drugs value")
    import gymnasium as gym
    import torch

    import druginv_gym
    from druginv_gym.baselines import OverProvisioning, RandomPolicy

    torch.set_num_threads(1)
    rows = []
    for n_drugs, steps in zip(args.drugs, args.steps, strict=True):
        env = gym.make("DrugRefill-v0", n_drugs=n_drugs)
        frames = {
            "over-provisioning": druginv_gym.evaluate(env, OverProvisioning(env), args.episodes),
            "random": druginv_gym.evaluate(env, RandomPolicy(env, seed=0), args.episodes),
            "sb3-ppo, box actions": train_and_score(n_drugs, steps, False, args.episodes),
            "sb3-ppo, OrderUpToAction": train_and_score(n_drugs, steps, True, args.episodes),
        }
        base = frames["over-provisioning"].total_cost.to_numpy()
        for name, df in frames.items():
            cut = 1 - df.total_cost.to_numpy() / base
            rows.append(
                {
                    "n_drugs": n_drugs,
                    "steps": steps if name.startswith("sb3") else 0,
                    "policy": name,
                    "cost_mean": df.total_cost.mean(),
                    "cut_vs_over_provisioning_mean": cut.mean(),
                    "cut_min": cut.min(),
                    "cut_max": cut.max(),
                    "shortage_rate": df.shortage_rate.mean(),
                    "stockout_rate": df.stockout_rate.mean(),
                    "train_s": float(df.train_s.iloc[0]) if "train_s" in df else 0.0,
                }
            )
            print(
                f"{n_drugs:4d} drugs  {name:26s} cost {df.total_cost.mean():12,.0f}  "
                f"cut vs over-provisioning {100 * cut.mean():+6.2f} %  "
                f"shortage {100 * df.shortage_rate.mean():5.2f} %",
                flush=True,
            )
    table = pd.DataFrame(rows)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "recipe.csv", index=False)
        print(f"wrote {args.out / 'recipe.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
