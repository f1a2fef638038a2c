"""The ``druginv`` command line: help, user errors (one line, exit 2), a tiny training run."""

from __future__ import annotations

import argparse
import subprocess
import sys

import druginv_agents
import pandas as pd
import pytest

from druginv_gym.cli import main


def test_help_lists_subcommands_with_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for sub in ("benchmark", "train", "evaluate", "solve", "forecast", "sweep"):
        assert sub in out and f"druginv {sub}" in out, sub


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "ppo", "--scenario", "nope"], "unknown scenario = 'nope'"),
        (["train", "dqn", "--resume", "missing.pt"], "--resume missing.pt: no such checkpoint"),
        (["train", "ppo", "--n-drugs", "300", "--scenario", "pharma"], "at most 8 drugs"),
        (["train", "dqn", "--set", "gama=0.9"], "--set 'gama=0.9': expected KEY=VALUE"),
        (["train", "dqn", "--set", "gamma=high"], "gamma takes a float, not 'high'"),
        (["train", "ppo", "--set", "gamma=7"], "gamma = 7.0 must be in [0, 1]"),
        (["train", "ppo", "--shortage-penalty", "-1"], "shortage_penalty = -1.0 must be >= 0"),
        (
            ["train", "ppo", "--shortage-penalty", "V=-1"],
            "shortage_penalty = {'V': -1.0} must be >= 0",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_argument_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "druginv_gym.cli", "train", "ppo", "--total-steps", "-5"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "must be > 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_logdir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "ppo", "--logdir", str(blocker / "sub")]) == 2
    assert "--logdir" in capsys.readouterr().err


def test_train_ppo_tiny(tmp_path, capsys):
    code = main(
        [
            "train",
            "ppo",
            "--n-drugs",
            "2",
            "--horizon",
            "4",
            "--total-steps",
            "64",
            "--num-envs",
            "8",
            "--set",
            "update_epochs=2",
            "--set",
            "target_kl=null",
            "--logdir",
            str(tmp_path),
        ]
    )
    assert code == 0 and "best validation cost" in capsys.readouterr().out
    policy = druginv_agents.load(tmp_path / "last.pt")
    assert policy.env_kwargs == {"scenario": "paper", "n_drugs": 2, "horizon": 4}
    assert policy.meta["config"]["update_epochs"] == 2
    assert policy.meta["config"]["target_kl"] is None


def test_train_help_lists_the_registered_trainers(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "{ppo,dqn}" in out and "DRLD, the paper's DQN" in out


# --- --help shows every option's default -------------------------------------------------


def _subparsers():
    from druginv_gym.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def test_every_option_of_every_subcommand_shows_its_default():
    import argparse

    for name, sub in _subparsers().items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or argparse.SUPPRESS in (action.default, action.help):
                continue
            text = formatter._expand_help(action)
            where = f"{name} {action.option_strings[0]}"
            assert "(default: " in text, f"{where}: {text!r}"
            assert "(default: None)" not in text, f"{where}: say what None means"
            assert text.count("(default") == 1, f"{where}: {text!r}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("train", ["--seed SEED ", "(default: 0)", "(default: runs)", "(default: cpu)"]),
        ("benchmark", ["(default: 10)", "(default: 8)", "(default: off)", "(default: paper)"]),
        ("evaluate", ["(default: 10)", "(default: 0)", "the table only)", "(default: paper)"]),
        ("solve", ["(default: 0)", "(default: the scenario's)", "the summary only)"]),
        ("forecast", ["(default: 52)", "(default: 1)", "(default: all 8)"]),
        ("classify", ["(default: 0.8 0.95)", "(default: 30)", "print only)"]),
        ("sweep", ["(default: 0-4)", "(default: 50000)", "(default: results/sweep)"]),
    ],
)
def test_help_of_each_subcommand_mentions_defaults(command, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # the wrapping aside
    for text in expected:
        assert " ".join(text.split()) in out, (command, text)


def test_help_epilogs_keep_their_layout(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert "policies (* the default set):" in lines
    assert any(line.startswith("  * hindsight-optimal ") for line in lines)
    assert any(line.startswith("    druginv benchmark --n-drugs 30") for line in lines)


# --- progress lines off a terminal -------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_writes_at_most_every_n_seconds_and_at_the_end():
    import io

    from druginv_gym.progress import LogProgress

    out, clock = io.StringIO(), _Clock()
    bar = LogProgress(total=110, desc="benchmark", unit="cells", every=30, file=out, clock=clock)
    for _ in range(12):
        clock.now += 2.0  # 24 s: no line yet
        bar.update(1)
    assert out.getvalue() == ""
    clock.now = 34.0
    bar.update(0)
    assert out.getvalue() == "benchmark: 12/110 cells (11 %), 34 s elapsed, ~4 min 38 s left\n"
    clock.now = 50.0
    bar.update(1)  # 16 s after the last line: none
    assert out.getvalue().count("\n") == 1
    clock.now, bar.n = 312.0, 109
    bar.set_postfix_str("saa")
    bar.update(1)
    bar.close()
    bar.close()  # once only
    lines = out.getvalue().splitlines()
    assert lines[1] == "benchmark: 110/110 cells (100 %), 5 min 12 s elapsed; saa"
    assert len(lines) == 2  # the end was shown already: close adds no copy


def test_log_progress_closing_early_shows_where_it_stopped():
    import io

    from druginv_gym.progress import LogProgress

    out, clock = io.StringIO(), _Clock()
    with LogProgress(total=1000, desc="sweep", unit="cells", every=30, file=out, clock=clock) as b:
        clock.now = 7200.0
        b.n = 999
        b.set_postfix(cost="1,234", sps="56")
    assert (
        out.getvalue() == "sweep: 999/1,000 cells (99 %), 2 h 00 min elapsed; cost=1,234, sps=56\n"
    )
    quiet = io.StringIO()
    LogProgress(total=0, desc="sweep", every=30, file=quiet).close()  # nothing to do
    assert quiet.getvalue() == ""


class _Terminal:
    """A stream that says it is a terminal."""

    def __init__(self) -> None:
        import io

        self.buffer = io.StringIO()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        pass


def test_progress_bar_is_tqdm_on_a_terminal_and_lines_elsewhere():
    import io

    from tqdm.std import tqdm

    from druginv_gym.progress import LogProgress, progress_bar

    term = _Terminal()
    bar = progress_bar(range(3), desc="ppo", unit="updates", file=term)
    assert isinstance(bar, tqdm) and not bar.disable
    assert list(bar) == [0, 1, 2]
    assert "ppo: 100%" in term.buffer.getvalue() and "3/3" in term.buffer.getvalue()

    log = io.StringIO()
    bar = progress_bar(range(3), desc="ppo", unit="updates", file=log, every=0)
    assert isinstance(bar, LogProgress)
    assert list(bar) == [0, 1, 2]
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("ppo: 1/3 updates (33 %), 0 s elapsed, ~0 s left")
    assert lines[-1].startswith("ppo: 3/3 updates (100 %), 0 s elapsed") and len(lines) == 3

    off = io.StringIO()
    bar = progress_bar(total=3, desc="x", enabled=False, file=off)
    bar.update(3)
    bar.close()
    assert isinstance(bar, tqdm) and bar.disable and off.getvalue() == ""
    forced = progress_bar(total=3, desc="x", enabled=True, file=io.StringIO())
    assert isinstance(forced, tqdm) and not forced.disable  # asked for: a bar even in a file
    forced.close()


def test_progress_interval_from_the_environment(monkeypatch, capsys):
    from druginv_gym.progress import DEFAULT_EVERY, LogProgress, progress_every

    monkeypatch.delenv("DRUGINV_PROGRESS_EVERY", raising=False)
    assert progress_every() == DEFAULT_EVERY == 30.0
    monkeypatch.setenv("DRUGINV_PROGRESS_EVERY", "2.5")
    assert progress_every() == 2.5 and LogProgress(total=1).every == 2.5
    for bad in ("soon", "-1", "inf"):
        monkeypatch.setenv("DRUGINV_PROGRESS_EVERY", bad)
        with pytest.raises(ValueError, match=f"DRUGINV_PROGRESS_EVERY = '{bad}' must be"):
            progress_every()
        assert main(["evaluate", "max-min"]) == 2
        err = capsys.readouterr().err
        assert "DRUGINV_PROGRESS_EVERY" in err and err.count("\n") == 1


TINY = ["--n-drugs", "3", "--horizon", "4"]


def test_long_commands_log_progress_lines_off_a_terminal(tmp_path, monkeypatch, capsys):
    """Under pytest, stderr is not a terminal: evaluate, benchmark and a local sweep write
    progress lines there (every step with an interval of 0), the last at 100 %."""
    monkeypatch.setenv("DRUGINV_PROGRESS_EVERY", "0")
    assert main(["evaluate", "max-min", *TINY, "--episodes", "3"]) == 0
    err = capsys.readouterr().err
    assert "evaluate max-min: 1/3 episodes (33 %)" in err
    assert err.splitlines()[-1].startswith("evaluate max-min: 3/3 episodes (100 %), ")
    bench = ["benchmark", *TINY, "--episodes", "2", "--policies", "max-min", "over-provisioning"]
    assert main([*bench, "--no-plots", "--jobs", "1", "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "benchmark: 1/4 cells (25 %)" in err and "benchmark: 4/4 cells (100 %)" in err
    sweep = ["sweep", "--local", *TINY, "--seeds", "0-1", "--policies", "max-min"]
    assert main([*sweep, "--out", str(tmp_path / "s")]) == 0
    assert "sweep: 2/2 cells (100 %)" in capsys.readouterr().err


def test_library_loops_log_progress_lines_off_a_terminal(monkeypatch, capsys):
    """The library's own long loops (``evaluate``, baseline tuning, a neural forecaster's
    epochs) report as the commands do: with ``progress=None`` a bar on a terminal and plain
    lines elsewhere (stderr under pytest), nothing with ``progress=False``."""
    import gymnasium as gym
    import numpy as np

    from druginv_gym.baselines import BaseStock
    from druginv_gym.baselines.tuning import grid_search
    from druginv_gym.evaluation import evaluate
    from druginv_gym.forecasting.neural import MLPForecaster

    monkeypatch.setenv("DRUGINV_PROGRESS_EVERY", "0")
    env = gym.make("DrugRefill-v0", n_drugs=3, horizon=4)
    evaluate(env, BaseStock(env), 2, progress=None)
    assert capsys.readouterr().err.splitlines()[-1].startswith("BaseStock: 2/2 episodes (100 %), ")
    grid = [{"level": 1.0}, {"level": 2.0}]
    grid_search(env, lambda e, **kw: BaseStock(e, **kw), grid, n_episodes=1, progress=None)
    err = capsys.readouterr().err
    assert "tuning: 1/2 candidates (50 %)" in err and "tuning: 2/2 candidates (100 %)" in err
    series = np.random.default_rng(0).poisson(10.0, (2, 40)).astype(float)
    MLPForecaster(progress=None, epochs=3, window=4, max_horizon=1).fit(series)
    err = capsys.readouterr().err
    assert "mlp fit: 3/3 epochs (100 %)" in err
    evaluate(env, BaseStock(env), 2, progress=False)
    grid_search(env, lambda e, **kw: BaseStock(e, **kw), grid, n_episodes=1, progress=False)
    MLPForecaster(progress=False, epochs=2, window=4, max_horizon=1).fit(series)
    assert capsys.readouterr().err == ""


def test_evaluate_plays_the_same_episodes_as_evaluate_in_one_call():
    import gymnasium as gym

    import druginv_gym
    from druginv_gym.baselines import MaxMin
    from druginv_gym.cli import _evaluate_episodes

    env = gym.make("DrugRefill-v0", scenario="seasonal", n_drugs=3, horizon=5)
    ref = druginv_gym.evaluate(env, MaxMin(env), 3, 7)
    got = _evaluate_episodes(env, MaxMin(env), 3, 7, "max-min")
    assert got.episode.tolist() == [0, 1, 2] and got.seed.tolist() == [7, 8, 9]
    cols = [c for c in ref.columns if c != "wall_s"]
    assert list(got.columns) == list(ref.columns)
    assert got[cols].equals(ref[cols])


# --- files that are no checkpoints: one line, exit 2 ---------------------------------------


def _not_checkpoints(tmp_path):
    import zipfile

    import torch

    text = tmp_path / "README.md"
    text.write_text("# not weights\n")
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hello")
    pickled = tmp_path / "object.pt"
    from fractions import Fraction

    torch.save({"model": Fraction(1, 3)}, pickled)  # a torch file with a pickled object
    return {
        text: "a text file",
        binary: "not a PyTorch file",
        archive: "a zip archive, but not one that torch.save writes",
        pickled: "it holds pickled Python objects",
    }


def test_evaluate_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, capsys):
    for path, reason in _not_checkpoints(tmp_path).items():
        assert main(["evaluate", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith(f"druginv: error: {path} is not a druginv checkpoint ({reason}")
        assert err.count("\n") == 1 and "Traceback" not in err and "weights_only" not in err


def test_the_readme_is_not_a_checkpoint(capsys):
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert main(["evaluate", str(readme), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"druginv: error: {readme} is not a druginv checkpoint (a text file; checkpoints are "
        "the zip files that torch.save writes)\n"
    )


def test_other_checkpoint_options_check_the_file_first(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    for argv, flag in [
        (["benchmark", *TINY, "--agent", str(text), "--out", str(tmp_path / "b")], "--agent"),
        (["train", "ppo", *TINY, "--resume", str(text), "--logdir", str(tmp_path)], "--resume"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{flag} {text} is not a druginv checkpoint (a text file" in err, err
        assert err.count("\n") == 1
    assert not (tmp_path / "b").exists()  # refused before the output folder was made
    sweep = ["sweep", "--local", *TINY, "--policies", f"agent:{text}"]
    assert main([*sweep, "--out", str(tmp_path / "s")]) == 2
    assert f"{text} is not a druginv checkpoint (a text file" in capsys.readouterr().err


def test_a_real_checkpoint_passes_the_check():
    from pathlib import Path

    from druginv_gym.preflight import check_checkpoint

    path = Path(druginv_agents.__file__).parent / "pretrained" / "ppo-paper-30.pt"
    check_checkpoint(path)  # no error


def test_multi_line_messages_are_cut_to_their_first_line():
    from druginv_gym.cli import _one_line

    assert _one_line("a: b") == "a: b"
    assert _one_line("a: b (advice\n\nmore advice)\n") == "a: b (advice [...]"


# --- output paths are checked before any work ---------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Training, playing, benchmarking and sweeping all fail the test if they start."""
    from druginv_agents import dqn, ppo

    import druginv_gym.benchmark
    import druginv_gym.solvers
    import druginv_gym.sweep

    def boom(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(ppo, "train", boom)
    monkeypatch.setattr(dqn, "train", boom)
    monkeypatch.setattr(druginv_gym.benchmark, "run_benchmark", boom)
    monkeypatch.setattr(druginv_gym.benchmark, "make_policy", boom)
    monkeypatch.setattr(druginv_gym.solvers, "solve_hindsight", boom)
    monkeypatch.setattr(druginv_gym.sweep, "run_sweep", boom)


def _bad_outputs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    return blocker, folder


@pytest.mark.parametrize(
    ("argv", "flag", "message"),
    [
        (
            ["train", "ppo", *TINY, "--logdir", "{file}"],
            "--logdir",
            "a file is there, not a folder",
        ),
        (["train", "dqn", *TINY, "--logdir", "{file}/sub"], "--logdir", "cannot create it"),
        (["benchmark", *TINY, "--out", "{file}"], "--out", "a file is there, not a folder"),
        (["benchmark", *TINY, "--out", "{file}/sub"], "--out", "cannot create it"),
        (["evaluate", "max-min", *TINY, "--out", "{folder}"], "--out", "a folder is there"),
        (["evaluate", "max-min", *TINY, "--out", "{file}/a/ep.csv"], "--out", "is a file, not"),
        (["solve", *TINY, "--out", "{folder}"], "--out", "a folder is there; name a file"),
        (["solve", *TINY, "--out", "{file}/orders.csv"], "--out", "is a file, not a folder"),
        (["sweep", "--local", *TINY, "--out", "{file}"], "--out", "a file is there, not a folder"),
        (["sweep", *TINY, "--out", "{file}/sub"], "--out", "cannot create it"),
    ],
)
def test_bad_output_paths_fail_before_any_work(argv, flag, message, tmp_path, no_work, capsys):
    blocker, folder = _bad_outputs(tmp_path)
    argv = [a.format(file=blocker, folder=folder) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"druginv: error: {flag} ") and message in err, err
    assert err.count("\n") == 1


def test_an_output_file_below_new_folders_is_fine(tmp_path, capsys):
    csv = tmp_path / "new" / "deeper" / "ep.csv"
    assert main(["evaluate", "max-min", *TINY, "--episodes", "1", "--out", str(csv)]) == 0
    assert csv.is_file()


def _unwritable_folder(tmp_path):
    """A folder where this process cannot create files (skips where none can be had)."""
    import os

    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    from druginv_gym.preflight import _cannot_write_in

    if _cannot_write_in(folder) is not None:
        return folder
    folder.chmod(0o755)  # root writes anyway: try a folder the kernel refuses
    if os.path.isdir("/sys") and _cannot_write_in("/sys") is not None:
        return type(folder)("/sys")
    pytest.skip("no unwritable folder here")


@pytest.mark.parametrize("command", ["train", "benchmark", "evaluate", "solve", "sweep"])
def test_unwritable_output_folders_fail_before_any_work(command, tmp_path, no_work, capsys):
    locked = _unwritable_folder(tmp_path)
    argv = {
        "train": ["train", "ppo", *TINY, "--logdir", str(locked)],
        "benchmark": ["benchmark", *TINY, "--out", str(locked)],
        "evaluate": ["evaluate", "max-min", *TINY, "--out", str(locked / "ep.csv")],
        "solve": ["solve", *TINY, "--out", str(locked / "orders.csv")],
        "sweep": ["sweep", "--local", *TINY, "--out", str(locked)],
    }[command]
    try:
        assert main(argv) == 2
    finally:
        if locked.is_relative_to(tmp_path):
            locked.chmod(0o755)
    err = capsys.readouterr().err
    assert "cannot write in" in err and str(locked) in err and err.count("\n") == 1, err


# --- step counts: whole rollouts, said in a line ------------------------------------------


def test_step_plan_rounds_down_to_whole_rollouts_and_says_so():
    from druginv_agents.common import StepPlan

    plan = StepPlan(300_000, 960, "rollout", "32 envs x 30 slots")
    assert (plan.rollouts, plan.steps) == (312, 299_520)
    assert plan.describe("--total-steps") == (
        "total steps: 300,000 asked, 299,520 run (312 whole rollouts of 32 envs x 30 slots, "
        "rounded down; --total-steps 300480 runs 313)"
    )
    exact = StepPlan(600_000, 960, "rollout", "32 envs x 30 slots")
    assert exact.describe() == "total steps: 600,000 (625 whole rollouts of 32 envs x 30 slots)"
    small = StepPlan(100, 960, "rollout", "32 envs x 30 slots")
    assert (small.rollouts, small.steps) == (1, 960)
    assert small.describe() == (
        "total steps: 100 asked, 960 run (1 whole rollout of 32 envs x 30 slots, the least)"
    )
    with pytest.raises(ValueError, match="per_rollout = 0 must be an integer >= 1"):
        StepPlan(10, 0, "rollout", "x")


def test_step_plans_of_the_trainers():
    from druginv_agents.dqn import DQNConfig
    from druginv_agents.ppo import PPOConfig

    ppo = PPOConfig(env_kwargs={"scenario": "paper", "n_drugs": 70}, total_steps=30_000)
    assert ppo.step_plan().describe("--total-steps") == (
        "total steps: 30,000 asked, 29,760 run (31 whole rollouts of 32 envs x 30 slots, "
        "rounded down; --total-steps 30720 runs 32)"
    )
    dqn = DQNConfig(env_kwargs={"scenario": "paper", "n_drugs": 30}, total_steps=3_000_000)
    plan = dqn.step_plan()
    assert (plan.per_rollout, plan.rollouts, plan.steps) == (7_200, 416, 2_995_200)
    assert "whole episodes of 8 envs x 30 drugs x 30 slots" in plan.describe()


def test_the_shipped_ppo_agents_ran_the_rounded_down_count():
    """The shipped ppo-paper-30 was trained with --total-steps 300000 and its best checkpoint
    is its last update: 312 rollouts, as rounding down gives (rounding up would give 313)."""
    from druginv_agents import load_pretrained
    from druginv_agents.ppo import PPOConfig

    meta = load_pretrained("ppo-paper-30").meta
    cfg = PPOConfig(**{k: v for k, v in meta["config"].items()})
    plan = cfg.step_plan()
    assert cfg.total_steps == 300_000 and meta["update"] == plan.rollouts == 312
    assert meta["global_step"] == plan.steps


def test_train_prints_the_steps_it_runs_and_runs_them(tmp_path, capsys):
    argv = ["train", "ppo", "--n-drugs", "2", "--horizon", "4", "--num-envs", "8"]
    argv += ["--total-steps", "40", "--set", "update_epochs=1", "--logdir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "total steps: 40 asked, 32 run (1 whole rollout of 8 envs x 4 slots, rounded down; "
        "--total-steps 64 runs 2)"
    ) in out
    assert druginv_agents.load(tmp_path / "last.pt").meta["global_step"] == 32


def test_classify_a_scenario_and_the_sales_data(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "classes"
    args = ["classify", "--scenario", "hospital", "--n-drugs", "20", "--rows", "3"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ABC x criticality" in printed and "17 more drugs" in printed
    table = pd.read_csv(out / "classes.csv")
    assert len(table) == 20 and set(table.abc) <= {"A", "B", "C"}
    assert (out / "pareto.png").stat().st_size > 10_000
    assert main(["classify", "--data", "pharma"]) == 0
    printed = capsys.readouterr().out
    assert "by units sold" in printed and "N02BE" in printed
    # a paper scenario has no classes: ABC only
    assert main(["classify", "--n-drugs", "5"]) == 0
    assert "ABC x criticality" not in capsys.readouterr().out


def test_classify_names_bad_cutoffs(capsys):
    assert main(["classify", "--cutoffs", "0.9", "0.5"]) == 2
    assert "cutoffs = (0.9, 0.5)" in capsys.readouterr().err


def test_train_reads_a_shortage_penalty_per_class():
    from druginv_gym.cli import _penalty

    assert _penalty("2.5") == 2.5
    assert _penalty("V=2,E=0.5, N=0") == {"V": 2.0, "E": 0.5, "N": 0.0}
    for bad, why in (("X=1", "not a class"), ("V=a", "not a number"), ("x", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            _penalty(bad)
