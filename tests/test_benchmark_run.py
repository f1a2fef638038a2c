"""``druginv benchmark``: every promised file, one row per cell, real figures, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from druginv_gym.benchmark import DEFAULT_POLICIES as ALL_DEFAULTS
from druginv_gym.benchmark import FIGURES, BenchmarkSpec, run_benchmark
from druginv_gym.cli import main

#: The default set on the paper scenario: no forecast-informed agent is shipped for it, so
#: ``ppo-forecast`` and ``dqn-forecast`` are left out (registry.NotApplicable).
DEFAULT_POLICIES = tuple(p for p in ALL_DEFAULTS if not p.endswith("-forecast"))

SMALL = ["--n-drugs", "5", "--horizon", "6", "--episodes", "3", "--tune-episodes", "2"]


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _png_is_a_plot(path) -> None:
    from matplotlib.image import imread

    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300, path
    # A real plot has many distinct colours (lines, text), not a blank canvas.
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, path
    assert path.stat().st_size > 10_000, path


def test_benchmark_command_writes_every_promised_file(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["benchmark", *SMALL, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in DEFAULT_POLICIES:
        assert name in printed
    for name in ("results.csv", "slots.csv", "summary.csv", "summary.md", "run.json", *FIGURES):
        assert (out / name).is_file(), name
    results = pd.read_csv(out / "results.csv")
    assert len(results) == len(DEFAULT_POLICIES) * 3
    assert sorted(results.groupby("policy").episode.apply(sorted).tolist()) == [[0, 1, 2]] * len(
        DEFAULT_POLICIES
    )
    # every metric is a number; ``bound`` (the optimum's QP objective) is empty for the others
    numeric = results.drop(columns=["policy", "bound"]).select_dtypes("number")
    # ... but the per-class ones, nan for a scenario without criticality classes
    per_class = [c for c in numeric.columns if c[-2:] in ("_V", "_E", "_N")]
    assert len(per_class) == 9 and results[per_class].isna().all().all()
    assert np.isfinite(numeric.drop(columns=per_class).to_numpy()).all()
    is_opt = results.policy == "hindsight-optimal"
    assert results.bound[is_opt].notna().all() and results.bound[~is_opt].isna().all()
    # the optimum is a lower bound on every policy, episode by episode
    assert (results.gap_to_optimum >= -1e-6).all()
    slots = pd.read_csv(out / "slots.csv")
    assert len(slots) == len(DEFAULT_POLICIES) * 3 * 6
    summary = (out / "summary.md").read_text()
    assert "paper's DRLD" in summary and "dqn-paper-30" in summary
    for fig in FIGURES:
        _png_is_a_plot(out / fig)


def test_benchmark_resumes_and_refuses_another_run_in_the_same_folder(tmp_path):
    spec = BenchmarkSpec(
        n_drugs=3, horizon=4, episodes=2, policies=("over-provisioning", "max-min")
    )
    first = run_benchmark(spec, tmp_path, progress=False, plots=False)
    before = (tmp_path / "results.csv").read_text()
    # a second run finds every cell done and changes nothing
    again = run_benchmark(spec, tmp_path, progress=False, plots=False, log=lambda m: None)
    assert (tmp_path / "results.csv").read_text() == before
    pd.testing.assert_frame_equal(first.summary, again.summary)
    other = BenchmarkSpec(n_drugs=3, horizon=4, episodes=3, policies=("max-min",))
    with pytest.raises(ValueError, match="holds a different benchmark run"):
        run_benchmark(other, tmp_path, progress=False, plots=False)
    assert (tmp_path / "results.csv").read_text() == before
    # the same spec, but the scenario of that name defined otherwise (another version): refused
    manifest = json.loads((tmp_path / "run.json").read_text())
    manifest["scenario_sha256"] = "0" * 64
    (tmp_path / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="as another version defined it"):
        run_benchmark(spec, tmp_path, progress=False, plots=False, log=lambda m: None)
    assert (tmp_path / "results.csv").read_text() == before


def test_benchmark_numbers_do_not_depend_on_the_worker_processes(tmp_path):
    """Two worker processes play the same cells to the same numbers as one process (the
    stochastic program re-seeds its futures per episode; the agent decides greedily); a bad
    ``jobs`` is refused before any work."""
    spec = BenchmarkSpec(
        n_drugs=4, horizon=5, episodes=3, policies=("saa", "base-stock", "ppo"), tune_episodes=2
    )
    one = run_benchmark(spec, tmp_path / "one", progress=False, plots=False, log=lambda m: None)
    two = run_benchmark(
        spec, tmp_path / "two", progress=False, plots=False, log=lambda m: None, jobs=2
    )
    cols = [c for c in one.results.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(one.results[cols], two.results[cols])
    pd.testing.assert_frame_equal(
        one.slots.sort_values(["policy", "episode", "t"]).reset_index(drop=True),
        two.slots.sort_values(["policy", "episode", "t"]).reset_index(drop=True),
    )
    with pytest.raises(ValueError, match="jobs = 0 must be an integer >= 1"):
        run_benchmark(spec, tmp_path / "bad", jobs=0)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_benchmark_killed_mid_way_resumes_with_one_row_per_cell(tmp_path):
    """SIGKILL while cells are being written, then run again: every cell exactly once."""
    out = tmp_path / "res"
    argv = [
        sys.executable,
        "-m",
        "druginv_gym.cli",
        "benchmark",
        "--n-drugs",
        "4",
        "--horizon",
        "5",
        "--episodes",
        "30",
        "--policies",
        "over-provisioning",
        "ski-rental",
        "max-min",
        "--no-plots",
        "--jobs",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        path = out / "results.csv"
        if path.exists() and len(pd.read_csv(path)) >= 20:
            break
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "the cells should be played by worker processes (--jobs default)"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the workers notice their parent is gone and exit (no orphans left waiting for work)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "orphaned workers"
    partial = pd.read_csv(out / "results.csv")
    assert 20 <= len(partial) < 90, "killed too late to test resuming"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 90
    assert not results.duplicated(["policy", "episode"]).any()
    # resumed rows equal a clean run's rows (the episodes are seeded)
    clean = run_benchmark(
        BenchmarkSpec(
            n_drugs=4,
            horizon=5,
            episodes=30,
            policies=("over-provisioning", "ski-rental", "max-min"),
        ),
        tmp_path / "clean",
        progress=False,
        plots=False,
    )
    key = ["policy", "episode"]
    a = results.sort_values(key).reset_index(drop=True)
    b = clean.results.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a.total_cost, b.total_cost)
    assert json.loads((out / "run.json").read_text())["spec"]["episodes"] == 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmark", "--scenario", "nope"], "unknown scenario = 'nope'"),
        (["benchmark", "--policies", "oracle"], "unknown policy 'oracle'"),
        (["benchmark", "--agent", "missing.pt"], "--agent missing.pt: no such checkpoint"),
        (["evaluate", "nope-policy", "--n-drugs", "3"], "unknown policy 'nope-policy'"),
        (["forecast", "prophet"], "unknown forecaster 'prophet'"),
        (["forecast", "naive", "--groups", "XYZ"], "--groups ['XYZ']: not in the data"),
        (["sweep", "--seeds", "5-2", "--local"], "'5-2' is not a range"),
        (["sweep", "--policies", "ppo", "--local"], "name a shipped agent"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_benchmark_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["benchmark", *SMALL, "--out", str(blocker / "sub")]) == 2
    assert "--out" in capsys.readouterr().err


def test_negative_episodes_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--episodes", "-1"])
    assert exc.value.code == 2
    assert "must be > 0" in capsys.readouterr().err


def test_evaluate_solve_forecast(tmp_path, capsys):
    csv = tmp_path / "ep.csv"
    assert (
        main(
            [
                "evaluate",
                "max-min",
                "--n-drugs",
                "3",
                "--horizon",
                "4",
                "--episodes",
                "2",
                "--out",
                str(csv),
            ]
        )
        == 0
    )
    assert len(pd.read_csv(csv)) == 2
    assert (
        main(["evaluate", "ppo-paper-30", "--n-drugs", "3", "--horizon", "4", "--episodes", "1"])
        == 0
    )
    orders = tmp_path / "orders.csv"
    assert main(["solve", "--n-drugs", "3", "--horizon", "4", "--out", str(orders)]) == 0
    table = pd.read_csv(orders)
    assert table.shape == (4, 4) and (table.drop(columns="slot") >= -1e-9).all().all()
    assert main(["forecast", "moving_average", "--groups", "N02BE", "--test-weeks", "10"]) == 0
    out = capsys.readouterr().out
    assert "status optimal" in out and "N02BE" in out and "SMAPE" in out


def test_a_note_says_when_the_hindsight_plans_replay_above_their_bound():
    from druginv_gym.benchmark import _bound_notes

    tight = pd.DataFrame(
        {"policy": ["opt", "x"], "total_cost": [100.05, 120.0], "bound": [100.0, None]}
    )
    assert _bound_notes(tight) == [] and _bound_notes(tight.drop(columns="bound")) == []
    loose = tight.assign(total_cost=[110.0, 105.0])
    (note,) = _bound_notes(loose)
    assert "replay 10.0 % above their lower bound (mean 100 USD" in note


def test_the_hindsight_optimum_rows_carry_their_bound(tmp_path):
    spec = BenchmarkSpec(
        n_drugs=3, horizon=4, episodes=2, policies=("hindsight-optimal", "max-min")
    )
    result = run_benchmark(spec, tmp_path, progress=False, plots=False, log=lambda m: None)
    opt = result.results[result.results.policy == "hindsight-optimal"]
    assert (
        opt.bound.notna().all()
        and result.results[result.results.policy == "max-min"].bound.isna().all()
    )
    assert np.allclose(opt.bound, opt.total_cost, rtol=1e-6)  # tight on the paper scenario
