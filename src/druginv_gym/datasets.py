"""Offline-RL datasets: trajectories of any policy written as Minari datasets.

:func:`write_dataset` plays a policy of the registry (the hindsight optimum, MPC, the
stochastic program, the baselines, the shipped agents, ``agent:<checkpoint>``,
``sb3:<algorithm>:<path>``) on held-out seeds ``seed .. seed + episodes - 1`` of a scenario
and records every step with Minari's ``DataCollector`` (observations, actions, rewards,
terminations, truncations and the env's ``info``, whose schema is the same at reset and every
step; actions in the action space's dtype, so that the stored actions replay to the stored
rewards). The same policy, scenario and seeds give the same dataset. ``druginv dataset`` is its
command line. Needs ``pip install "druginv-gym[dataset]"`` (Minari with its writers).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["default_dataset_id", "write_dataset"]


def default_dataset_id(scenario: str, policy: str, n_drugs: int) -> str:
    """``druginv/<scenario>-<N>-<policy>-v0`` with the policy's name made a valid Minari name
    (``(s,S)`` -> ``s-S``, ``agent:ppo-paper-70`` -> ``agent-ppo-paper-70``)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", policy).strip("-")
    return f"druginv/{scenario}-{n_drugs}-{name}-v0"


@contextlib.contextmanager
def _datasets_root(root: str | Path | None) -> Iterator[None]:
    """Minari reads its datasets folder from ``MINARI_DATASETS_PATH``: point it at ``root``
    for the duration (``None``: Minari's own default)."""
    if root is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def write_dataset(
    policy: str,
    *,
    scenario: str = "paper",
    n_drugs: int | None = None,
    horizon: int | None = None,
    episodes: int = 10,
    seed: int = 0,
    dataset_id: str | None = None,
    root: str | Path | None = None,
    tune_episodes: int = 8,
    progress: Any = None,
) -> Any:
    """Record ``episodes`` episodes of ``policy`` as the Minari dataset ``dataset_id``.

    Args:
        policy: a policy name of :mod:`druginv_gym.registry` (as ``druginv benchmark
            --policies`` takes it); tuned policies are tuned first on ``tune_episodes``
            training episodes, as in the benchmark.
        scenario, n_drugs, horizon: the scenario and its size.
        episodes, seed: episode ``k`` plays ``env.reset(seed=seed + k)``.
        dataset_id: Minari's id (default: :func:`default_dataset_id`).
        root: the datasets folder (default: Minari's, ``MINARI_DATASETS_PATH`` or
            ``~/.minari/datasets``).
        progress: a callable ``progress(done, total)`` called after each episode.

    Returns:
        The ``minari.MinariDataset`` written. An existing dataset of that id raises
        ``ValueError`` (nothing is overwritten); so does a bad policy name or count.
    """
    try:
        import minari
        from minari import DataCollector
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("datasets need Minari: pip install 'druginv-gym[dataset]'") from exc

    from druginv_gym.benchmark import BenchmarkSpec, make_policy, tune_baselines

    spec = BenchmarkSpec(
        scenario=scenario,
        n_drugs=n_drugs,
        horizon=horizon,
        episodes=episodes,
        seed=seed,
        policies=(policy,),
        tune_episodes=tune_episodes,
    )
    cfg = spec.config
    dataset_id = dataset_id or default_dataset_id(scenario, policy, cfg.n_drugs)
    with _datasets_root(root):
        if dataset_id in minari.list_local_datasets():
            raise ValueError(f"dataset {dataset_id!r} already exists; choose another id")
        env, agent, label = make_policy(policy, spec, tune_baselines(spec, progress=False))
        collector = DataCollector(env, record_infos=True)
        space = env.action_space
        for k in range(episodes):
            obs, _ = collector.reset(seed=seed + k)
            agent.reset()
            done = False
            while not done:
                # in the action space's dtype (float32 for the box id): the dataset's actions
                # are then exactly what the env played, and replay to its rewards
                action = np.asarray(agent.act(obs)).astype(space.dtype, copy=False)
                obs, _, terminated, truncated, _ = collector.step(action)
                done = terminated or truncated
            if progress is not None:
                progress(k + 1, episodes)
        with warnings.catch_warnings():  # Minari's advice on fields a generated set lacks
            warnings.filterwarnings(
                "ignore", message="`(code_permalink|author_email|eval_env)` is set to None"
            )
            return collector.create_dataset(
                dataset_id=dataset_id,
                algorithm_name=f"{policy} ({label})",
                author="druginv_gym",
                description=(
                    f"{episodes} episodes of policy {policy!r} ({label}) on scenario "
                    f"{cfg.name!r} ({cfg.n_drugs} drugs x {cfg.horizon} slots), seeds "
                    f"{seed}..{seed + episodes - 1}; written by "
                    "druginv_gym.datasets.write_dataset"
                ),
            )
