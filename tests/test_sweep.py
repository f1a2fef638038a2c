"""``druginv sweep``: a tiny grid on local Ray, resuming, training cells, a killed sweep."""

from __future__ import annotations

import os
import signal
import socket
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


class _Stop(Exception):
    pass


def _ray_init_calls(monkeypatch):
    """``ray.init`` recording its arguments, then stopping the sweep."""
    ray = pytest.importorskip("ray")
    calls: list[dict] = []

    def init(**kwargs):
        calls.append(kwargs)
        raise _Stop

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    return calls


def test_without_address_the_sweep_starts_its_own_local_ray(tmp_path, monkeypatch):
    """address=None must become "local": left as None (or "auto"), Ray joins the cluster that
    RAY_ADDRESS or the address file of a stopped cluster names, and refuses num_cpus."""
    calls = _ray_init_calls(monkeypatch)
    cells = make_cells(["paper"], [3], 4, ["max-min"], [0])
    with pytest.raises(_Stop):
        run_sweep(cells, tmp_path, num_cpus=3, progress=False, log=lambda m: None)
    assert calls[-1]["address"] == "local" and calls[-1]["num_cpus"] == 3
    with pytest.raises(_Stop):
        run_sweep(cells, tmp_path, address="ray://head:10001", num_cpus=3, progress=False)
    assert calls[-1]["address"] == "ray://head:10001" and calls[-1]["num_cpus"] is None
    with pytest.raises(_Stop):
        main(["sweep", "--n-drugs", "3", "--horizon", "4", "--seeds", "0", "--out", str(tmp_path)])
    assert calls[-1]["address"] == "local" and calls[-1]["num_cpus"] is None


@pytest.mark.slow
def test_sweep_ignores_another_clusters_address(tmp_path, monkeypatch):
    """With RAY_ADDRESS naming a cluster that is gone (as the address file of a cluster
    stopped uncleanly does), the default sweep still runs, on a Ray instance of its own."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens there
    argv = ["sweep", "--n-drugs", "3", "--horizon", "4", "--seeds", "0", "--num-cpus", "1"]
    assert main([*argv, "--policies", "max-min", "--out", str(tmp_path)]) == 0
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 1


def test_training_cells_say_how_many_steps_they_run(tmp_path):
    pytest.importorskip("torch")
    said: list[str] = []
    cells = make_cells(["paper"], [3], 4, ["train:ppo"], [0])
    run_sweep(cells, tmp_path, train_steps=100, local=True, progress=False, log=said.append)
    assert said[0] == (
        "train:ppo on paper-3-4: total steps: 100 asked, 96 run (3 whole rollouts of 8 envs x "
        "4 slots, rounded down; --train-steps 128 runs 4)"
    )
    import druginv_agents

    assert (
        druginv_agents.load(tmp_path / "train" / "paper-3-4-ppo" / "last.pt").meta["global_step"]
        == 96
    )


def test_a_cluster_that_refuses_the_connection_is_one_line(tmp_path, monkeypatch, capsys):
    """``ray.init`` raising ConnectionError (a token-authenticated cluster joined without the
    token: "Failed to connect to Ray cluster at ...") is one line naming the address and the
    token settings, exit status 2, nothing written."""
    ray = pytest.importorskip("ray")

    def refused(**kwargs):
        raise ConnectionError(f"Failed to connect to Ray cluster at {kwargs['address']}")

    monkeypatch.setattr(ray, "init", refused)
    out = tmp_path / "s"
    with socket.create_server(("127.0.0.1", 0)) as server:  # a port that answers
        address = f"127.0.0.1:{server.getsockname()[1]}"
        argv = ["sweep", "--address", address, "--n-drugs", "3", "--horizon", "4"]
        assert main([*argv, "--seeds", "0", "--policies", "max-min", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"druginv: error: cannot join the Ray cluster at {address}")
    assert "RAY_AUTH_MODE=token" in err and not (out / "sweep.csv").exists()


def test_an_address_where_nothing_answers_is_one_line_at_once(tmp_path, capsys):
    """Ray retries an address where nothing listens for minutes; the sweep probes the port
    first (a closed loopback port is refused at once) and names it, before any work."""
    from druginv_gym.sweep import check_cluster_reachable

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    out = tmp_path / "s"
    start = time.monotonic()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        argv = ["sweep", "--address", address, "--n-drugs", "3", "--seeds", "0"]
        assert main([*argv, "--policies", "max-min", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"druginv: error: --address {address}: no Ray cluster answers")
        assert err.count("\n") == 0 and not out.exists()
    assert time.monotonic() - start < 30
    for left_to_ray in (None, "local", "auto", "head-without-port"):
        check_cluster_reachable(left_to_ray)  # nothing to probe: Ray reads these itself
