"""Time to draw a batch of exogenous traces: the compact draws against the legacy ones.

    python benchmarks/draws.py --num-envs 1024 --repeats 15

Both kinds of draws (``draws="legacy"`` and ``"compact"``) of the three processes (demand,
price with premium, storage rate) of scenario ``paper`` (a premium on every drug-slot, paid on
emergency purchases) and of ``paper-band`` (a premium on 10 % of them), interleaved in one
process with one BLAS thread, min / median / max over the repeats and the ratio per round.
What the vector env pays at each autoreset (or its prefetch thread) for ``num_envs`` traces of
70 drugs x 30 slots.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="8 envs, 2 repeats (tests)")
    parser.add_argument("--out", type=Path, default=None, help="also write draws.csv there")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.repeats = 8, 2
    from threadpoolctl import threadpool_limits

    from druginv_gym.exogenous import sample_exogenous
    from druginv_gym.scenarios import make_scenario

    configs = {}
    for scenario in ("paper", "paper-band"):
        cfg = make_scenario(scenario)
        for draws in ("legacy", "compact"):
            configs[(scenario, draws)] = cfg.replace(
                demand=dataclasses.replace(cfg.demand, draws=draws),
                price=dataclasses.replace(cfg.price, draws=draws),
                storage=dataclasses.replace(cfg.storage, draws=draws),
            )
    rng = np.random.default_rng(0)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in configs}
    with threadpool_limits(1):
        for cfg in configs.values():  # warm up
            sample_exogenous(cfg, rng, args.num_envs)
        for _ in range(args.repeats):
            for k, cfg in configs.items():
                start = time.perf_counter()
                sample_exogenous(cfg, rng, args.num_envs)
                times[k].append(time.perf_counter() - start)
    print(f"{args.num_envs} envs x 30 slots x 70 drugs, min / median / max over {args.repeats}")
    for (scenario, draws), v in times.items():
        ms = 1000 * np.array(v)
        print(
            f"{scenario:10s} {draws:8s} {np.min(ms):7.1f} / {np.median(ms):7.1f} / "
            f"{np.max(ms):7.1f} ms"
        )
    rows = []
    for scenario in ("paper", "paper-band"):
        ratio = np.array(times[(scenario, "legacy")]) / np.array(times[(scenario, "compact")])
        print(
            f"{scenario:10s} legacy / compact per round: {ratio.min():.2f} / "
            f"{np.median(ratio):.2f} / {ratio.max():.2f}"
        )
        for draws in ("legacy", "compact"):
            ms = 1000 * np.array(times[(scenario, draws)])
            rows.append(
                {"scenario": scenario, "draws": draws, "num_envs": args.num_envs,
                 "ms_min": ms.min(), "ms_median": np.median(ms), "ms_max": ms.max(),
                 "legacy_over_compact_median": float(np.median(ratio))}
            )  # fmt: skip
    if args.out is not None:
        import pandas as pd

        from druginv_gym.io import atomic_write_text

        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "draws.csv", pd.DataFrame(rows).to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
