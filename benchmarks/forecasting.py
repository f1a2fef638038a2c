"""Every forecaster on the real weekly pharmacy data, horizons 1-3, plus transfer learning.

Data: the "Pharma sales data" weekly series (8 ATC groups, 299 full weeks). The last
``--test-weeks`` (52) weeks are the test year; everything before is training data (the neural
models hold out the last 20 % of their training windows, chronologically, for early stopping:
the validation split). Each forecaster is fitted once on the training weeks, then scored by
rolling origin over the test year: at every test week ``t`` it forecasts weeks ``t .. t+2``
from the history before ``t`` only; the error of the ``k``-step-ahead forecast gives horizon
``k``. Metrics: MAE and RMSE (units/week) and SMAPE (%), per ATC group and on average.

Transfer learning (MLP): for each group in turn, pretrain on the other seven groups' training
weeks, then fine-tune the top layer (``freeze=2``) on only the last ``--target-weeks`` (52)
training weeks of the held-out group; compare on its test year with (a) the pretrained model
with no fine-tuning and (b) the same MLP trained from scratch on those 52 weeks alone.

Writes ``forecast_errors.csv``, ``transfer.csv`` and ``forecast_vs_actual.png`` to ``--out``.

Usage::

    python benchmarks/forecasting.py            # about 3-4 minutes on 2 cores
    python benchmarks/forecasting.py --quick    # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from druginv_gym.data import ATC_GROUPS, load_pharma_sales
from druginv_gym.forecasting import (
    CNNLSTMForecaster,
    ExponentialSmoothing,
    LSTMForecaster,
    MLPForecaster,
    MovingAverage,
    Naive,
    SeasonalNaive,
)
from druginv_gym.forecasting.metrics import mae, rmse, smape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pyplot, write_csv_atomic

HORIZON = 3


def rolling_forecasts(model, data: np.ndarray, start: int) -> np.ndarray:
    """(n_series, origins, HORIZON) forecasts for origins ``start .. len - HORIZON``."""
    origins = range(start, data.shape[1] - HORIZON + 1)
    return np.stack([model.predict(data[:, :t], HORIZON) for t in origins], axis=1)


def score(actual: np.ndarray, pred: np.ndarray, start: int) -> list[dict]:
    rows = []
    n_orig = pred.shape[1]
    for k in range(HORIZON):
        truth = actual[:, start + k : start + k + n_orig]
        for i, group in enumerate(ATC_GROUPS[: actual.shape[0]]):
            a, f = truth[i], pred[i, :, k]
            rows.append(
                {
                    "group": group,
                    "horizon": k + 1,
                    "mae": mae(a, f),
                    "rmse": rmse(a, f),
                    "smape": smape(a, f),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--test-weeks", type=int, default=52)
    p.add_argument("--target-weeks", type=int, default=52)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/forecasting"))
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 3
    data = load_pharma_sales("weekly").to_numpy().T  # (8, 299)
    start = data.shape[1] - args.test_weeks
    if start < 104 + HORIZON:
        p.error(f"--test-weeks = {args.test_weeks} leaves too little training data")
    train = data[:, :start]
    neural = dict(epochs=args.epochs, seed=args.seed, progress=None)
    models = {
        "naive": Naive(),
        "seasonal-naive (52)": SeasonalNaive(52),
        "moving-average (4)": MovingAverage(4),
        "holt (damped)": ExponentialSmoothing(),
        "holt-winters (52)": ExponentialSmoothing(season_length=52),
        "mlp": MLPForecaster(**neural),
        "lstm": LSTMForecaster(**neural),
        "cnn-lstm": CNNLSTMForecaster(**neural),
    }
    if args.quick:
        models.pop("holt-winters (52)")
    rows, preds = [], {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t0
        pred = rolling_forecasts(model, data, start)
        preds[name] = pred
        for r in score(data, pred, start):
            rows.append({"model": name, "fit_s": fit_s, **r})
        print(f"{name:<20} fitted in {fit_s:6.1f} s", flush=True)
    errors = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(errors, args.out / "forecast_errors.csv")

    summary = errors.groupby(["model", "horizon"], sort=False)[["mae", "rmse", "smape"]].mean()
    print("\nMean over the 8 ATC groups, test year (rolling origin):")
    print(summary.unstack("horizon").round(2).to_string())
    print("\nSMAPE (%) per group, horizon 1:")
    print(
        errors[errors.horizon == 1]
        .pivot(index="model", columns="group", values="smape")
        .loc[list(models)]
        .round(1)
        .to_string()
    )

    # Transfer learning, leave one group out.
    tl_rows = []
    groups = ATC_GROUPS if not args.quick else ATC_GROUPS[:2]
    for i, group in enumerate(groups):
        source = np.delete(train, i, axis=0)
        short = train[i : i + 1, -args.target_weeks :]
        series = data[i : i + 1]
        pre = MLPForecaster(**neural).pretrain(source)
        zero_shot = rolling_forecasts(pre, series, start)
        tuned = pre.fine_tune(short, freeze=2)
        tuned_pred = rolling_forecasts(tuned, series, start)
        scratch = MLPForecaster(**neural).fit(short)
        scratch_pred = rolling_forecasts(scratch, series, start)
        truth = series[0, start : start + zero_shot.shape[1]]
        for name, pr in (
            ("pretrained, no fine-tune", zero_shot),
            ("pretrained + fine-tuned", tuned_pred),
            ("from scratch (target only)", scratch_pred),
        ):
            tl_rows.append(
                {
                    "group": group,
                    "model": name,
                    "mae": mae(truth, pr[0, :, 0]),
                    "smape": smape(truth, pr[0, :, 0]),
                }
            )
        print(f"transfer to {group} done", flush=True)
    transfer = pd.DataFrame(tl_rows)
    write_csv_atomic(transfer, args.out / "transfer.csv")
    print(f"\nTransfer learning (MLP), horizon 1, fine-tuned on {args.target_weeks} weeks:")
    print(transfer.pivot(index="group", columns="model", values="smape").round(1).to_string())
    print(transfer.groupby("model")[["mae", "smape"]].mean().round(2).to_string())

    plt = pyplot()
    if plt is not None:
        weeks = load_pharma_sales("weekly").index
        shown = ["N02BE", "R03", "R06", "M01AB"]
        fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
        n_orig = next(iter(preds.values())).shape[1]
        x = weeks[start : start + n_orig]
        for ax, group in zip(axes.ravel(), shown, strict=True):
            i = ATC_GROUPS.index(group)
            ax.plot(
                weeks[start - 26 : start + n_orig],
                data[i, start - 26 : start + n_orig],
                color="black",
                lw=1.5,
                label="actual",
            )
            for name in ("naive", "holt (damped)", "cnn-lstm"):
                if name in preds:
                    ax.plot(x, preds[name][i, :, 0], lw=1, label=f"{name} (1 week ahead)")
            ax.axvline(weeks[start], color="grey", ls=":", lw=1)
            ax.set_title(group)
            ax.set_ylabel("units / week")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle("Pharma sales, test year: actual vs 1-week-ahead forecasts")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(args.out / "forecast_vs_actual.png", dpi=110)
        print(f"wrote {args.out / 'forecast_vs_actual.png'}")
    print(f"wrote {args.out}/forecast_errors.csv, transfer.csv  ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
