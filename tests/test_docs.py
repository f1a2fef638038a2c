"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make benchmark" in first_block and "make test" in first_block


def test_readme_python_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    assert len(blocks[0].strip().splitlines()) <= 10
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert "purchase" in capsys.readouterr().out


def test_docs_python_examples_run(capsys):
    """Every python block of the quickstart and the scenario guide runs as written."""
    from druginv_gym.scenarios import SCENARIOS

    try:
        for page in ("index.md", "scenarios.md"):
            text = (ROOT / "docs" / page).read_text()
            namespace: dict = {}
            blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
            assert blocks, f"{page} has no python example"
            for block in blocks:
                exec(compile(block, page, "exec"), namespace)
    finally:
        SCENARIOS.pop("winter", None)  # registered by the guide's example
    assert "winter-10" in capsys.readouterr().out


def test_cli_reference_covers_every_subcommand():
    from druginv_gym.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = (ROOT / "docs" / "cli.md").read_text()
    for name in sub.choices:
        assert f"## `druginv {name}" in text, name


def test_mkdocs_nav_lists_every_page():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = {next(iter(item.values())) for item in nav}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages == listed


def test_extending_guide_examples_run_and_leave_the_registries_as_they_were(capsys):
    """Every python block of docs/extending.md runs as written, in order, in one namespace;
    what the examples register is then removed again."""
    from druginv_gym import registry
    from druginv_gym.evaluation import METRIC_TABLE
    from druginv_gym.exogenous import PROCESSES, unregister_process
    from druginv_gym.forecasting import FORECASTERS, unregister_forecaster
    from druginv_gym.scenarios import SCENARIOS

    def state():
        names = list(METRIC_TABLE)
        return set(SCENARIOS), set(PROCESSES), set(FORECASTERS), registry.policy_names(), names

    before = state()
    text = (ROOT / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 7, "one example per kind of extension"
    try:
        namespace: dict = {}
        for block in blocks:
            exec(compile(block, "extending.md", "exec"), namespace)
    finally:
        SCENARIOS.pop("quiet", None)
        for kind in ("poisson", "flat_price"):
            if kind in PROCESSES:
                unregister_process(kind)
        if "drift" in FORECASTERS:
            unregister_forecaster("drift")
    out = capsys.readouterr().out
    for shown in (
        "quiet-3",
        "poisson",
        "slot cost per env",
        "half-range",
        "cost/slot",
        "[[4. 5.]]",
    ):
        assert shown in out, shown
    assert state() == before


def test_clients_page_examples_run(tmp_path, monkeypatch, capsys):
    """Every python block of docs/clients.md runs as written, in order, in one namespace
    (SB3, the native vector env's API, the benchmark family, Minari)."""
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("minari")
    pytest.importorskip("jax")
    pytest.importorskip("torchrl")
    monkeypatch.chdir(tmp_path)  # the examples write a model and a results folder
    text = (ROOT / "docs" / "clients.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "clients.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "sb3:ppo:ppo-small.zip" in out and "druginv/paper-5-hindsight-optimal-v0" in out
    assert (tmp_path / "ppo-small.zip").is_file()
