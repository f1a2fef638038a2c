"""The ``druginv`` command line: help, user errors (one line, exit 2), a tiny training run."""

from __future__ import annotations

import subprocess
import sys

import druginv_agents
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
