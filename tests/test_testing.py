"""druginv_gym.testing: regression comparisons with stated tolerances, and assert_beats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from druginv_gym import dynamics
from druginv_gym.benchmark import BenchmarkSpec, run_benchmark
from druginv_gym.testing import assert_beats, compare_summaries, read_summary

SPEC = dict(n_drugs=4, horizon=5, episodes=3, tune_episodes=2)
POLICIES = ("hindsight-optimal", "over-provisioning", "max-min", "base-stock")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    run_benchmark(BenchmarkSpec(**SPEC, policies=POLICIES), out, progress=False, plots=False)
    return out


def test_a_run_compared_with_itself_and_with_changed_numbers(reference):
    same = compare_summaries(reference, reference / "summary.csv")
    assert same.ok and set(same.table.status) == {"same"}
    assert "as in the reference" in same.markdown()
    table = read_summary(reference)
    worse = table.copy()
    worse.loc["max-min", "total_cost"] *= 1.01
    worse.loc["base-stock", "fill_rate"] -= 0.01
    better = table.copy()
    better.loc["max-min", "total_cost"] *= 0.99
    found = compare_summaries(worse, reference)
    assert not found.ok
    bad = found.regressions.set_index(["policy", "metric"]).status
    assert bad.to_dict() == {
        ("max-min", "total_cost"): "worse",
        ("base-stock", "fill_rate"): "worse",
    }
    assert "| max-min | total_cost |" in found.markdown()
    assert compare_summaries(better, reference).ok  # an improvement is no regression
    # within a stated tolerance, a change is the same
    loose = compare_summaries(
        worse, reference, tolerances={"total_cost": (0.02, 0.0), "*": (0, 0.02)}
    )
    assert loose.ok
    dropped = compare_summaries(table.drop(index="max-min"), reference)
    assert set(dropped.regressions.status) == {"missing"}


def test_both_backends_give_the_same_table_within_the_default_tolerances(reference, tmp_path):
    if not dynamics.numba_available():
        pytest.skip("numba is not installed")
    before = dynamics.get_backend()
    other = "numpy" if before == "numba" else "numba"
    dynamics.set_backend(other)
    try:
        run_benchmark(
            BenchmarkSpec(**SPEC, policies=POLICIES), tmp_path, progress=False, plots=False
        )
    finally:
        dynamics.set_backend(before)
    assert compare_summaries(tmp_path, reference).ok


def test_read_summary_names_a_bad_file(tmp_path):
    with pytest.raises(ValueError, match="no such summary"):
        read_summary(tmp_path)
    (tmp_path / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a benchmark summary"):
        read_summary(tmp_path)


def test_assert_beats_passes_for_a_better_policy_and_shows_the_table_otherwise():
    import gymnasium as gym

    from druginv_gym.baselines import BaseStock

    kwargs = {"n_drugs": 4, "horizon": 5}
    env = gym.make("DrugRefill-v0", **kwargs)
    table = assert_beats(
        BaseStock(env, level=1.5), ["over-provisioning"], env_kwargs=kwargs, seeds=range(3)
    )
    assert table.loc["over-provisioning", "cut_mean"] > 0
    nothing = np.zeros(4, dtype=np.float32)
    with pytest.raises(AssertionError, match=r"does not beat \['over-provisioning'\]"):
        assert_beats(lambda obs: nothing, ["over-provisioning"], env_kwargs=kwargs, seeds=range(3))
    with pytest.raises(ValueError, match="consecutive"):
        assert_beats(lambda obs: nothing, ["max-min"], env_kwargs=kwargs, seeds=[0, 2])
    assert isinstance(table, pd.DataFrame)


def test_benchmark_against_a_reference_exits_1_on_a_regression(reference, tmp_path, capsys):
    from druginv_gym.cli import main

    argv = ["benchmark", "--n-drugs", "4", "--horizon", "5", "--episodes", "3"]
    argv += ["--tune-episodes", "2", "--no-plots", "--policies", *POLICIES]
    assert main([*argv, "--out", str(tmp_path / "same"), "--against", str(reference)]) == 0
    assert "no regression" in capsys.readouterr().out
    better = read_summary(reference)
    better.loc["max-min", "total_cost"] *= 0.99  # the reference was cheaper: now a regression
    better.reset_index().to_csv(tmp_path / "ref.csv", index=False)
    code = main([*argv, "--out", str(tmp_path / "worse"), "--against", str(tmp_path / "ref.csv")])
    out = capsys.readouterr().out
    assert code == 1 and "| max-min | total_cost |" in out and "1 regressions" in out
    assert (tmp_path / "worse" / "against.md").is_file()
    loose = ["--tolerance", "total_cost=0.02"]
    assert (
        main(
            [
                *argv,
                "--out",
                str(tmp_path / "loose"),
                "--against",
                str(tmp_path / "ref.csv"),
                *loose,
            ]
        )
        == 0
    )
    # a bad reference or tolerance fails before any work
    assert main([*argv, "--out", str(tmp_path / "bad"), "--against", str(tmp_path / "nope")]) == 2
    assert "no such summary" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert (
        main(
            [*argv, "--out", str(tmp_path / "bad"), "--against", str(reference), "--tolerance", "x"]
        )
        == 2
    )
    assert "expected METRIC=VALUE" in capsys.readouterr().err


def test_dataset_command_writes_a_minari_dataset(tmp_path, capsys):
    pytest.importorskip("minari")
    pytest.importorskip("jax")
    from druginv_gym.cli import main

    argv = ["dataset", "max-min", "--n-drugs", "3", "--horizon", "4", "--episodes", "2"]
    assert main([*argv, "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "druginv/paper-3-max-min-v0: 2 episodes, 8 steps" in out
    assert main([*argv, "--root", str(tmp_path)]) == 2  # the same id again
    assert "already exists" in capsys.readouterr().err
