"""Extract the shipped agents' training curves from their TensorBoard logs.

Reads ``benchmarks/logs/<agent>/`` (the event files of the runs behind
``druginv_agents/pretrained/<agent>.pt``) and writes ``training_curves.csv`` next to the
checkpoints, so that an installed package can draw the training-convergence figure (the paper's
Fig. 4) without TensorBoard or the logs. Columns: ``agent``, ``step`` (env steps), ``wall_s``
(seconds since the run's first logged update), ``tag`` (``train_cost`` for the training
episodes' mean cost, ``eval_cost`` and ``eval_shortage_rate`` for the validation seeds),
``value``.

Usage::

    python benchmarks/training_curves.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent
TAGS = {
    "charts/episode_cost": "train_cost",
    "eval/episode_cost": "eval_cost",
    "eval/shortage_rate": "eval_shortage_rate",
}


def curves(logdir: Path) -> pd.DataFrame:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    frames = []
    for run in sorted(p for p in logdir.iterdir() if p.is_dir()):
        ea = EventAccumulator(str(run), size_guidance={"scalars": 0})
        ea.Reload()
        start = min(e.wall_time for e in ea.Scalars("charts/SPS"))
        for tag, name in TAGS.items():
            events = ea.Scalars(tag)
            frames.append(
                pd.DataFrame(
                    {
                        "agent": run.name,
                        "step": [e.step for e in events],
                        "wall_s": [max(round(e.wall_time - start, 1), 0.0) for e in events],
                        "tag": name,
                        "value": [e.value for e in events],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from _common import write_csv_atomic

    out = ROOT.parent / "agents" / "druginv_agents" / "pretrained" / "training_curves.csv"
    table = curves(ROOT / "logs")
    write_csv_atomic(table, out)
    print(
        f"wrote {out.relative_to(ROOT.parent)}: {len(table)} rows, "
        f"agents {sorted(set(table.agent))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
