"""The agents' entries in the ``druginv_gym`` policy registry.

``druginv_gym`` never imports this package; it finds this module through the entry point that
``pyproject.toml`` declares::

    [project.entry-points."druginv_gym.policies"]
    druginv_agents = "druginv_agents.plugin:register"

and calls :func:`register` the first time it is asked about policies. That adds:

* ``dqn`` and ``ppo`` to the benchmark's default set: the shipped agent of that algorithm for
  the scenario with the nearest number of drugs (the paper scenario's when the scenario has
  none); left out, without a note, when that agent cannot read the scenario's observation (a
  supply model, an announcement or a forecast it was not trained with); skipped with a note
  when none can be loaded (no torch, nothing shipped);
* ``ppo-forecast`` and ``dqn-forecast`` to the default set too: the shipped forecast-informed
  agent of that algorithm for the scenario (``<algo>-<scenario>-<N>-<forecaster>``) with the
  best validation score; left out, without a note, on a scenario that has none;
* the family ``agent:<shipped name or .pt path>``, with the shipped names usable bare on the
  command line (``druginv evaluate ppo-paper-70``);
* the trainers ``ppo`` and ``dqn`` (``druginv train``, the sweep's ``train:ppo``);
* the shipped training curves for the benchmark's Fig. 4.

Nothing here imports torch: registering must work in an install without it, where building
an agent then raises ImportError (a skipped agent, or a one-line CLI error naming the extra).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import druginv_agents
from druginv_gym import registry
from druginv_gym.scenarios import split_name

if TYPE_CHECKING:
    import gymnasium as gym
    import pandas as pd

    from druginv_gym.benchmark import BenchmarkSpec

__all__ = ["register", "shipped_training_curves"]

#: What to install for the agents.
REQUIRES = "druginv-gym[torch]"
#: The algorithms, their place in the benchmark's default set, and their help.
ALGORITHMS = {
    "dqn": (10, "DRLD, the paper's DQN: the shipped agent with the nearest number of drugs"),
    "ppo": (20, "PPO: the shipped agent with the nearest number of drugs"),
}

#: The forecast-informed agents' places in the benchmark's default set.
FORECAST_ORDER = {"dqn": 15, "ppo": 25}


def _nearest_pretrained(algo: str, scenario: str, n_drugs: int) -> str | None:
    """The shipped ``<algo>-<scenario>-<N>`` with N nearest to ``n_drugs`` (None if none);
    ``ppo-paper-band-70`` is an agent of scenario ``paper-band``, not of ``paper``."""
    prefix = f"{algo}-{scenario}-"
    names = [
        n
        for n in druginv_agents.list_pretrained()
        if n.startswith(prefix) and n[len(prefix) :].isdigit()
    ]
    if not names:
        return None
    return min(names, key=lambda n: (abs(int(n.rsplit("-", 1)[1]) - n_drugs), n))


def _build_nearest(
    algo: str, spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    """``dqn``/``ppo``: the nearest shipped agent, on the env id it was trained for."""
    n = spec.config.n_drugs
    source = _nearest_pretrained(algo, spec.scenario, n)
    if source is None:
        source = _nearest_pretrained(algo, "paper", n)
    if source is None:
        raise ValueError(f"no pretrained {algo} agent is shipped")
    agent = druginv_agents.load_pretrained(source)
    env = spec.make_env(agent.env_id, **agent.observation_kwargs)
    wrong = _feature_mismatch(agent, env)
    if wrong:  # e.g. the paper's agents on a scenario with a supply model, or announce=8
        raise registry.NotApplicable(f"{algo}: the shipped {source} {wrong}")
    return env, agent, source


def _feature_mismatch(agent: Any, env: gym.Env) -> str | None:
    """Why ``agent`` cannot read ``env``'s observation (its per-drug features differ: another
    supply model, announcement or forecast), or ``None`` when it can."""
    want = agent.meta.get("drug_feature_names")
    have = list(env.get_wrapper_attr("drug_feature_names"))
    if want is None or list(want) == have:
        return None
    return f"reads the per-drug features {list(want)}, this scenario shows {have}"


def _forecast_agents(algo: str, scenario: str, n_drugs: int) -> list[str]:
    """The shipped forecast-informed agents of ``algo`` for ``scenario``
    (``<algo>-<scenario>-<N>-<f>``, ``f`` the forecaster) with N nearest to ``n_drugs``."""
    prefix = f"{algo}-{scenario}-"
    found: dict[int, list[str]] = {}
    for name in druginv_agents.list_pretrained():
        size, _, forecaster = name[len(prefix) :].partition("-")
        if name.startswith(prefix) and size.isdigit() and forecaster:
            found.setdefault(int(size), []).append(name)
    if not found:
        return []
    return found[min(found, key=lambda size: (abs(size - n_drugs), size))]


def _build_forecast(
    algo: str, spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    """``<algo>-forecast``: of the shipped forecast-informed agents of ``algo`` for the
    scenario, the one with the best validation score in training (validation seeds of the
    training data, never the held-out episodes), played with its forecaster."""
    scenario = split_name(spec.scenario)[0]
    names = _forecast_agents(algo, scenario, spec.config.n_drugs)
    if not names:
        raise registry.NotApplicable(
            f"no forecast-informed {algo} agent is shipped for scenario {scenario!r}"
        )
    agents = {name: druginv_agents.load_pretrained(name) for name in names}
    source = min(names, key=lambda name: (agents[name].meta["best_eval_cost"], name))
    agent = agents[source]
    return spec.make_env(agent.env_id, **agent.observation_kwargs), agent, source


def _is_checkpoint(text: str) -> bool:
    """A bare command-line name that is a checkpoint path rather than a policy name."""
    return Path(text).suffix == ".pt" or Path(text).is_file()


def _build_agent(
    spec: BenchmarkSpec, params: Mapping[str, float], argument: str | None
) -> tuple[gym.Env, Any, str]:
    """``agent:<source>``: a checkpoint file, else a shipped agent by name."""
    source = str(argument)
    if _is_checkpoint(source):
        agent = druginv_agents.load(source)
    else:
        agent = druginv_agents.load_pretrained(source)
    env = spec.make_env(agent.env_id, **agent.observation_kwargs)
    wrong = _feature_mismatch(agent, env)
    if wrong:
        raise ValueError(f"agent {source} {wrong}")
    return env, agent, source


def _load_ppo() -> tuple[type, Any]:
    from druginv_agents import ppo

    return ppo.PPOConfig, ppo.train


def _load_dqn() -> tuple[type, Any]:
    from druginv_agents import dqn

    return dqn.DQNConfig, dqn.train


def shipped_training_curves() -> pd.DataFrame | None:
    """The validation curves of the shipped agents (``pretrained/training_curves.csv``, made
    by ``benchmarks/training_curves.py``); None when the file is not installed."""
    import pandas as pd

    path = resources.files(druginv_agents.__name__) / "pretrained" / "training_curves.csv"
    try:
        with path.open("rb") as fh:
            return pd.read_csv(fh)
    except FileNotFoundError:
        return None


def register() -> None:
    """Register the agents' policies, trainers and curves (the entry point's function)."""
    for algo, (order, help_text) in ALGORITHMS.items():
        registry.register_policy(
            algo,
            functools.partial(_build_nearest, algo),
            help=help_text,
            kind="agent",
            default_order=order,
            skip_errors=(ValueError, ImportError),
            sweep_refusal=f"name a shipped agent, e.g. agent:{algo}-paper-30",
            requires=REQUIRES,
        )
    for algo, order in FORECAST_ORDER.items():
        registry.register_policy(
            f"{algo}-forecast",
            functools.partial(_build_forecast, algo),
            help=f"{algo.upper()} with a demand forecast in its observation: of the shipped "
            "agents of the scenario, the best in validation (pharma, seasonal)",
            kind="agent",
            default_order=order,
            skip_errors=(ImportError,),
            sweep_refusal=f"name a shipped agent, e.g. agent:{algo}-pharma-8-moving_average",
            requires=REQUIRES,
        )
    registry.register_policy(
        "agent",
        _build_agent,
        help="a shipped agent by name, or a checkpoint (.pt) of druginv train",
        kind="agent",
        takes_argument=True,
        metavar="name or path",
        aliases=druginv_agents.list_pretrained,
        accepts=_is_checkpoint,
        accepts_help="a checkpoint path",
        requires=REQUIRES,
    )
    registry.register_trainer(
        "ppo",
        _load_ppo,
        help="PPO on DrugRefill-v0 (one order fraction per drug, per-drug network)",
        sweep_overrides={"num_envs": 8, "eval_every": 5, "checkpoint_every": 1},
        requires=REQUIRES,
    )
    registry.register_trainer(
        "dqn",
        _load_dqn,
        help="DRLD, the paper's DQN, on DrugRefillSequential-v0 (drugs decided one by one)",
        requires=REQUIRES,
    )
    registry.register_training_curves(shipped_training_curves)
