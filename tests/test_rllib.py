"""RLlib, from its own environment (it pins another Gymnasium): ``make rllib-env`` makes
``.venv-rllib``, and ``make test`` makes it before the suite runs, so CI runs this test."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from .helpers import missing

ROOT = Path(__file__).resolve().parents[1]
RLLIB_PYTHON = ROOT / ".venv-rllib" / "bin" / "python"
EXAMPLE = ROOT / "docs" / "examples" / "rllib_ppo.py"


def rllib_python() -> Path:
    if RLLIB_PYTHON.exists():
        return RLLIB_PYTHON
    missing("RLlib needs its own environment: run `make rllib-env` (make test does)")


@pytest.mark.slow
def test_rllib_ppo_with_remote_env_runners_trains_and_is_scored(tmp_path):
    """The documented example, at reduced size: RLlib's PPO (new API stack) with two remote
    env runners on the ``module:id`` form trains, and ``druginv_gym.evaluate`` scores the
    trained module through ``adapters.as_policy`` (its actions in the Box, else the env
    refuses them); its checkpoint is scored from the command line as ``rllib:PATH``, to the
    same cost on the same seeds."""
    python = rllib_python()
    ckpt = tmp_path / "ckpt"
    proc = subprocess.run(
        [str(python), str(EXAMPLE), "--iterations", "1", "--n-drugs", "5", "--save", str(ckpt)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=ROOT,
        env={**os.environ, "RAY_DEDUP_LOGS": "0"},
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-2000:] + proc.stderr[-3000:]
    assert re.search(r"^iteration 1: episode return -\d+\.\d+$", out, flags=re.M), out
    cost = re.search(r"^RLlib PPO, mean refilling cost: (\d+)$", out, flags=re.M)
    assert cost is not None and int(cost.group(1)) > 0, out
    table = tmp_path / "episodes.csv"
    args = ["--n-drugs", "5", "--horizon", "30", "--episodes", "3", "--seed", "0"]
    cli = subprocess.run(
        [str(python.parent / "druginv"), "evaluate", f"rllib:{ckpt}", *args, "--out", str(table)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-3000:]
    assert abs(pd.read_csv(table).total_cost.mean() - int(cost.group(1))) <= 0.5
    bad = subprocess.run(
        [str(python.parent / "druginv"), "evaluate", f"rllib:{tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "not an RLlib checkpoint" in bad.stderr, bad.stderr[-2000:]


def test_rllib_docs_show_the_example_that_runs():
    """Every line of the RLlib configuration on docs/clients.md is in the example the test
    above runs, so the page cannot drift from what is tested."""
    text = (ROOT / "docs" / "clients.md").read_text()
    block = re.search(r"## RLlib\n.*?```text\n(.*?)```", text, flags=re.S)
    assert block is not None
    example = EXAMPLE.read_text()
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) >= 5
    for line in lines:
        assert line in example, line
