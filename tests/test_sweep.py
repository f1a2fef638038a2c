"""``druginv sweep``: a tiny grid on local Ray, resuming, training cells, a killed sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from druginv_gym.cli import main
from druginv_gym.sweep import add_gap, make_cells, parse_seeds, run_sweep


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5,1,1-2") == [1, 2, 5]
    for bad in ("x", "3-1", "-1", "1-"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


@pytest.mark.slow
def test_sweep_on_local_ray_with_a_training_cell_then_resumes(tmp_path, capsys):
    pytest.importorskip("ray")
    argv = [
        "sweep",
        "--scenarios",
        "paper",
        "seasonal",
        "--n-drugs",
        "3",
        "--horizon",
        "4",
        "--seeds",
        "0-1",
        "--policies",
        "hindsight-optimal",
        "over-provisioning",
        "agent:ppo-paper-30",
        "train:ppo",
        "--train-steps",
        "96",
        "--num-cpus",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert len(table) == 2 * 4 * 2  # scenarios x policies x seeds
    assert not table.duplicated(["scenario", "policy", "seed"]).any()
    assert np.isfinite(table.total_cost).all()
    assert (add_gap(table).gap_to_optimum >= -1e-6).all()
    assert (tmp_path / "train" / "paper-3-4-ppo" / "best.pt").is_file()
    before = (tmp_path / "sweep.csv").read_text()
    capsys.readouterr()
    assert main(argv) == 0  # every cell done: nothing runs, nothing changes
    assert "resuming: 16 of 16 cells" in capsys.readouterr().out
    assert (tmp_path / "sweep.csv").read_text() == before


def test_local_sweep_matches_the_benchmark_rows(tmp_path):
    cells = make_cells(["paper"], [3], 4, ["max-min", "ski-rental"], [0, 1])
    table = run_sweep(cells, tmp_path, local=True, progress=False, log=lambda m: None)
    assert len(table) == 4
    import gymnasium as gym

    import druginv_gym
    from druginv_gym.baselines import MaxMin

    env = gym.make("DrugRefill-v0", scenario="paper", n_drugs=3, horizon=4)
    ref = druginv_gym.evaluate(env, MaxMin(env), 2, 0).total_cost.to_numpy()
    got = table[table.policy == "max-min"].sort_values("seed").total_cost.to_numpy()
    np.testing.assert_allclose(got, ref)


@pytest.mark.slow
def test_sweep_killed_mid_way_resumes_with_one_row_per_cell(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "druginv_gym.cli",
        "sweep",
        "--local",
        "--n-drugs",
        "3",
        "--horizon",
        "4",
        "--seeds",
        "0-39",
        "--policies",
        "over-provisioning",
        "max-min",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = tmp_path / "sweep.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and len(pd.read_csv(path)) >= 15:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 15 <= len(pd.read_csv(path)) < 80, "killed too late to test resuming"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(path)
    assert len(table) == 80 and not table.duplicated(["policy", "seed"]).any()
    assert set(table.seed) == set(range(40))


def test_sweep_policies_come_from_the_registry(capsys):
    from druginv_gym.sweep import default_sweep_policies

    assert default_sweep_policies() == [
        "hindsight-optimal",
        "over-provisioning",
        "ski-rental",
        "max-min",
        "base-stock",
        "(s,S)",
        "mpc",
        "saa",
    ]
    assert main(["sweep", "--policies", "train:sac", "--local"]) == 2
    assert "unknown policy 'train:sac': use train:ppo or train:dqn" in capsys.readouterr().err
    assert main(["sweep", "--policies", "oracle", "--local"]) == 2
    err = capsys.readouterr().err
    assert "unknown policy 'oracle'; choose from [" in err
    assert "'agent:<name or path>', 'train:ppo' or 'train:dqn'" in err
